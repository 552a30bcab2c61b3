"""Real processes for the end-to-end tests: the embedded stack, Alertmanager, Prometheus.

Alertmanager and Prometheus are the Debian packages scripts/setup installs; each runs on
loopback with its own config and data folder, and is stopped by PID when the test ends.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from orchestrator.local.stack import Stack, StackOptions
from tests.fakes.serving import free_port, wait_until


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed: run scripts/setup --test")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(StackOptions(state=tmp_path_factory.mktemp("state"), time_scale=0.05)) as s:
        yield s


class Process:
    def __init__(self, cmd: list[str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def _wait_ready(url: str, proc: Process, what: str) -> None:
    def ready() -> bool:
        if proc.proc.poll() is not None:
            raise AssertionError(f"{what} exited: {proc.tail()}")
        try:
            return httpx.get(url, timeout=1, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=30, what=f"{what} to be ready")


def start_alertmanager(folder: Path, *, webhook: str, token: str,
                       port: int | None = None) -> tuple[str, Process]:
    port = port or free_port()
    config = {
        "route": {"receiver": "orchestrator", "group_by": ["alertname", "namespace"],
                  "group_wait": "1s", "group_interval": "2s", "repeat_interval": "1h"},
        "receivers": [{"name": "orchestrator", "webhook_configs": [{
            "url": webhook, "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
        }]}],
    }
    (folder / "alertmanager.yml").write_text(yaml.safe_dump(config))
    proc = Process([
        _need("prometheus-alertmanager"), f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=", f"--web.external-url=http://127.0.0.1:{port}",
    ], folder / "alertmanager.log")
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url + "/-/ready", proc, "alertmanager")
    return url, proc


def start_prometheus(folder: Path, *, target: str, alertmanager: str) -> tuple[str, Process]:
    port = free_port()
    rules = {"groups": [{"name": "e2e", "interval": "1s", "rules": [{
        "alert": "TargetDown", "expr": 'up{job="checkout"} == 0', "for": "0s",
        "labels": {"severity": "warning", "namespace": "payments"},
        "annotations": {"summary": "checkout target is down",
                        "description": "{{ $labels.instance }} of job checkout is not scraped."},
    }]}]}
    (folder / "rules.yml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(folder / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [alertmanager.removeprefix("http://")]}]}]},
        "scrape_configs": [{"job_name": "checkout", "scrape_timeout": "500ms",
                            "static_configs": [{"targets": [target]}]}],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = Process([
        _need("prometheus"), f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'prom-data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=2s", f"--web.external-url=http://127.0.0.1:{port}",
    ], folder / "prometheus.log")
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url + "/-/ready", proc, "prometheus")
    return url, proc
