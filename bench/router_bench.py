"""The router's costs, each next to a baseline measured in the same run.

1. Enrichment of a crash-looping pod against the fake API server (the real kubernetes client
   over HTTP): API calls made and wall time, next to one bare typed `read_namespaced_pod`;
   also with a per-request latency injected, where concurrent reads pay off.
2. Cold start: seconds from spawning `functions-framework` to the first answered POST of an
   `incident.alert.received`, next to a hello-world function. Target: ≤ 3x. Measured without a
   cluster (the embedded default), with a kubeconfig pointing at the fake (the `kubernetes`
   package is then imported on the first request, and the reads are made), and with that plus
   a real Prometheus (rules read and the rule's and the runbook's PromQL run on that request).

Usage: .venv/bin/python bench/router_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT, first_answer, hello_source, median_of  # noqa: E402
from orchestrator.adapters.kube_reads import KubeReader  # noqa: E402
from orchestrator.events import AlertReceived  # noqa: E402
from orchestrator.ingest.alertmanager import parse_webhook  # noqa: E402
from orchestrator.ingest.core import alert_event  # noqa: E402
from orchestrator.orient.core import orient  # noqa: E402
from orchestrator.settings.router import RouterSettings  # noqa: E402
from tests import keys  # noqa: E402
from tests.conftest import load_event  # noqa: E402
from tests.fakes import kube_objects as ko  # noqa: E402
from tests.fakes.kube_api import FakeKubeAPI  # noqa: E402

POD = "checkout-7d9f8b6c5-x2k4q"


def crashloop_cluster(api: FakeKubeAPI) -> None:
    """The recorded payload's pod (payments/checkout-7d9f8b6c5-x2k4q), crash-looping."""
    sc = ko.crashlooping_deployment(ns="payments", name="checkout")
    pod = sc["pod"]
    pod["metadata"]["name"] = POD
    sc.logs = [(ns, POD, c, text, prev) for ns, _, c, text, prev in sc.logs]
    sc.load(api)
    api.add(ko.node("node-1"))


def incoming() -> Any:
    (a,) = parse_webhook(load_event("alertmanager_crashloop")).alerts
    return alert_event(a, receiver="bench")


def enrichment(runs: int, delay: float) -> None:
    with FakeKubeAPI() as api:
        crashloop_cluster(api)
        reads = KubeReader(api.server())
        settings = RouterSettings()
        received = incoming().data
        assert isinstance(received, AlertReceived)
        from kubernetes import client

        core = client.CoreV1Api(api.api_client())
        if delay:
            api.delay(r".", delay)
        bare, full, calls = [], [], 0
        for _ in range(runs):
            t = time.perf_counter()
            core.read_namespaced_pod(POD, "payments")
            bare.append(time.perf_counter() - t)
            api.clear_requests()
            t = time.perf_counter()
            out = orient(received=received, input_id="bench", reads=reads, source="kubeconfig",
                         settings=settings)
            full.append(time.perf_counter() - t)
            calls = len(api.requests)
        size = len(out.data.model_dump_json().encode())
        b, f = statistics.median(bare), statistics.median(full)
        label = f"+{delay * 1000:.0f} ms/request" if delay else "no added latency"
        print(f"  {label}: read_namespaced_pod {b * 1000:7.1f} ms | enrichment "
              f"{f * 1000:7.1f} ms ({f / b:4.1f}x), {calls} API calls, {size} bytes; "
              f"sequential calls would take ≥ {calls * b * 1000:.0f} ms")


def cold_start(runs: int) -> None:
    home = tempfile.mkdtemp(prefix="bench-home-")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("ROUTER_", "KUBERNETES_")) and k != "KUBECONFIG"}
    base["HOME"] = home
    base.update(keys.env("router"))
    headers, body = keys.signer("ingest").encode(incoming())  # the router verifies ingest

    def hello(client: httpx.Client, url: str) -> httpx.Response:
        r = client.post(url + "/", content=b"{}")
        r.raise_for_status()
        return r

    def router(client: httpx.Client, url: str) -> httpx.Response:
        r = client.post(url + "/", content=body, headers=headers, timeout=30)
        if r.status_code != 200 or r.headers.get("ce-type") != "incident.context.enriched":
            raise RuntimeError(f"router answered {r.status_code}: {r.text[:300]}")
        return r

    cpu: dict[str, list[float]] = {k: [] for k in ("h", "n", "k", "p")}
    h, h_runs = median_of(runs, lambda: first_answer(hello_source(), base, hello, cpu=cpu["h"]))
    source = ROOT / "functions/router/main.py"
    n, n_runs = median_of(runs, lambda: first_answer(source, base, router, cpu=cpu["n"]))
    with FakeKubeAPI() as api:
        crashloop_cluster(api)
        env = {**base, "KUBECONFIG": api.write_kubeconfig(str(Path(home) / "kubeconfig"))}
        k, k_runs = median_of(runs, lambda: first_answer(source, env, router, cpu=cpu["k"]))
        p, p_runs = _with_prometheus(runs, source, env, router, Path(home), cpu["p"])
    print(f"  {'function':<28}{'median s':>10}{'ratio':>8}  runs")
    for name, value, all_runs in (("hello-world", h, h_runs), ("router, no cluster", n, n_runs),
                                  ("router, kubeconfig (fake)", k, k_runs),
                                  ("router, + Prometheus", p, p_runs)):
        print(f"  {name:<28}{value:>10.3f}{value / h:>8.2f}  "
              f"{' '.join(f'{x:.3f}' for x in all_runs)}")
    hc = statistics.median(cpu["h"])
    print("  CPU seconds (user+sys) until the first answer, median, ratio to hello-world: "
          + ", ".join(f"{name} {statistics.median(cpu[key]):.3f} "
                      f"({statistics.median(cpu[key]) / hc:.2f}x)"
                      for name, key in (("hello-world", "h"), ("no cluster", "n"),
                                        ("kubeconfig", "k"), ("+ Prometheus", "p"))))


def _with_prometheus(runs: int, source: Path, env: dict[str, str], router: Any,
                     home: Path, cpu: list[float]) -> tuple[float, list[float]]:
    """The kubeconfig case plus a real Prometheus (Debian's) whose rule matches the alert: the
    first request then also reads the rules and runs the rule's and the runbook's queries."""
    from tests.e2e.prometheus_support import Exporter, start_prometheus_rules, wait_value

    exporter = Exporter()
    exporter.set(f'crashes{{namespace="payments",pod="{POD}"}}', 3)
    (home / "prom").mkdir(exist_ok=True)
    url, proc = start_prometheus_rules(home / "prom", targets=[exporter.target], rules=[
        {"alert": "KubePodCrashLooping", "expr": "crashes > 0", "for": "0s"}])
    try:
        wait_value(url, "crashes", 3)
        return median_of(runs, lambda: first_answer(
            source, {**env, "ROUTER_PROMETHEUS_URL": url}, router, cpu=cpu))
    finally:
        proc.stop()
        exporter.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("Enrichment of a crash-looping pod (median of runs):")
    enrichment(max(args.runs, 5) * 4, 0.0)
    enrichment(max(args.runs, 3), 0.010)
    print("Cold start, spawn to first answered POST (alert.received):")
    cold_start(args.runs)


if __name__ == "__main__":
    main()
