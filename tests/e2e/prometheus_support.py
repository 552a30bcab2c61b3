"""A metric the test controls, scraped by the real Prometheus with the test's alert rules.

`Exporter` serves `/metrics` from a dict the test changes; `start_prometheus_rules` runs
Debian's Prometheus against it with 1 s scrape and evaluation intervals and (optionally) an
Alertmanager to send to, with the short resend delay the reference notes ask for.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.conftest import Process, _need, _wait_ready
from tests.fakes.serving import QuietHandler, free_port, serve_in_thread, wait_until


class Exporter:
    """`/metrics` with the samples in `values` (series text → value), changeable any time."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                with owner._lock:
                    body = "".join(f"{k} {v}\n" for k, v in owner.values.items()).encode()
                self.reply(200, body, content_type="text/plain; version=0.0.4")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.target = f"127.0.0.1:{self.server.server_address[1]}"
        self._serving = ExitStack()
        self._serving.enter_context(serve_in_thread(self.server))

    def set(self, series: str, value: float) -> None:
        with self._lock:
            self.values[series] = value

    def close(self) -> None:
        self._serving.close()


def start_prometheus_rules(folder: Path, *, targets: list[str], rules: list[dict[str, Any]],
                           alertmanager: str | None = None,
                           port: int | None = None) -> tuple[str, Process]:
    port = port or free_port()
    (folder / "rules.yml").write_text(yaml.safe_dump(
        {"groups": [{"name": "test", "interval": "1s", "rules": rules}]}))
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(folder / "rules.yml")],
        "scrape_configs": [{"job_name": "checkout", "scrape_timeout": "500ms",
                            "static_configs": [{"targets": targets}]}],
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [
            {"targets": [alertmanager.removeprefix("http://")]}]}]}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    data = folder / "prom-data"
    proc = Process([
        _need("prometheus"), f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=1s", f"--web.external-url=http://127.0.0.1:{port}",
    ], folder / f"prometheus-{port}.log")
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url + "/-/ready", proc, "prometheus")
    return url, proc


def query(prom: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5, trust_env=False)
    return list(r.json()["data"]["result"])


def wait_value(prom: str, expr: str, value: float, *, timeout: float = 30) -> None:
    """Until Prometheus has scraped `value` for `expr`."""
    wait_until(lambda: any(float(r["value"][1]) == value for r in query(prom, expr)),
               timeout=timeout, what=f"{expr} == {value} in Prometheus")


def firing(prom: str, alertname: str) -> bool:
    r = httpx.get(f"{prom}/api/v1/alerts", timeout=5, trust_env=False).json()
    return any(a["labels"].get("alertname") == alertname and a["state"] == "firing"
               for a in r["data"]["alerts"])
