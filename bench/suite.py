"""One table of the figures the README quotes, each next to a baseline measured in this run.

- cold start per function: spawn → first answered real request, vs a hello-world function;
- ingest throughput: alerts/s through ingest into the durable queue vs raw events/s;
- end-to-end latency per alert (offline planner, no cluster): webhook POST → the incident's
  last event, p50/p95, next to four bare hops through the same broker;
- RSS (peak) per function process after that run;
- retrieval recall@1 (bench/retrieval_bench.py's figures).
Usage: bench/run [--runs N] [--alerts N]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    ROOT,
    accepting_sink,
    first_answer,
    hello_source,
    median_of,
)
from bench.first_requests import PAYLOAD, expect, first_requests, hello  # noqa: E402
from bench.ingest_throughput import measure as ingest_rates  # noqa: E402
from bench.router_bench import crashloop_cluster  # noqa: E402
from bench.router_bench import incoming as router_incoming  # noqa: E402
from orchestrator.local.broker import Broker  # noqa: E402
from orchestrator.local.replay import push  # noqa: E402
from orchestrator.local.stack import Stack, StackOptions  # noqa: E402
from orchestrator.local.triggers import load_eventing  # noqa: E402
from orchestrator.provenance import signer_from_pem  # noqa: E402
from tests.fakes.kube_api import FakeKubeAPI  # noqa: E402


def cold_starts(runs: int, work: Path,
                cpu: dict[str, float] | None = None) -> dict[str, float]:
    """Median seconds from spawn to first answer per function; with `cpu`, the median CPU
    seconds (user + system of the function's processes until that answer) go into it."""
    sink = accepting_sink()
    env, requests = first_requests(work, f"http://127.0.0.1:{sink.server_address[1]}/")
    used: dict[str, list[float]] = {}

    def timed(name: str, source: Path, env: dict[str, str], request: Any) -> float:
        return median_of(runs, lambda: first_answer(source, env, request,
                                                    cpu=used.setdefault(name, [])))[0]

    out = {"hello-world": timed("hello-world", hello_source(), env, hello)}
    for name, request in requests.items():
        out[name] = timed(name, ROOT / "functions" / name / "main.py", env, request)
    keys = work / "keys"
    # The router again, with a kubeconfig: its first request connects and reads the fake API.
    with FakeKubeAPI() as api:
        crashloop_cluster(api)
        kube_env = {**env, "KUBECONFIG": api.write_kubeconfig(str(work / "kubeconfig"))}
        ingest = signer_from_pem("ingest", (keys / "ingest.key").read_text())
        crashloop = expect("/", *ingest.encode(router_incoming()), ok=(200,))
        out["router-kubeconfig"] = timed("router-kubeconfig", ROOT / "functions/router/main.py",
                                         kube_env, crashloop)
    sink.shutdown()
    if cpu is not None:
        cpu.update({name: statistics.median(runs) for name, runs in used.items()})
    return out


def bare_hop(n: int, work: Path) -> float:
    """Median seconds from a publish to the subscriber's receipt, through the local broker."""
    (work / "eventing").mkdir(exist_ok=True)
    (work / "eventing" / "all.yaml").write_text(
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: incidents}\n---\n"
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t}\n"
        "spec: {broker: incidents, filter: {attributes: {type: hop}}, "
        "subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: s}}}\n")
    sink = accepting_sink()
    broker = Broker(db_path=work / "hop.sqlite3", config=load_eventing(work / "eventing"),
                    subscribers={"s": f"http://127.0.0.1:{sink.server_address[1]}"})
    broker.start()
    hops = []
    try:
        with httpx.Client(trust_env=False) as client:
            for i in range(n):
                start = time.perf_counter()
                client.post(broker.url + "/", content=b"{}", headers={
                    "ce-specversion": "1.0", "ce-type": "hop", "ce-source": "/bench",
                    "ce-id": f"h{i}", "content-type": "application/json"})
                while len(sink.arrivals) <= i:  # type: ignore[attr-defined]
                    time.sleep(0.0005)
                hops.append(sink.arrivals[i] - start)  # type: ignore[attr-defined]
    finally:
        broker.close()
        sink.shutdown()
    return statistics.median(hops)


def end_to_end(n: int, work: Path) -> tuple[list[float], dict[str, tuple[int, int]]]:
    """Per-alert latency through the whole embedded loop, and (RSS, peak RSS) per process."""
    latencies = []
    with Stack(StackOptions(state=work / "state", env={"router": {
            "KUBECONFIG": str(work / "no-kubeconfig")}})) as stack:
        assert stack.broker is not None
        for i in range(n):
            payload = copy.deepcopy(PAYLOAD)
            payload["alerts"][0]["fingerprint"] = f"{i + 1:016x}"
            payload["alerts"][0]["labels"]["pod"] = f"checkout-{i}"
            start = time.perf_counter()
            (key,) = push(stack, [payload])
            while not any(e.attributes.get("type") == "incident.escalated"
                          or e.attributes.get("type") == "incident.plan.proposed"
                          for e in stack.broker.events(key)):
                time.sleep(0.002)
            latencies.append(time.perf_counter() - start)
        rss = {name: _rss(proc.pid) for name, proc in stack._procs.items()}
    return latencies, rss


def _rss(pid: int) -> tuple[int, int]:
    """MiB now and at peak of a function: the gunicorn arbiter plus its worker(s)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    now = peak = 0
    for p in [pid, *map(int, children)]:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{p}/status").read_text()
                      .splitlines() if ":" in line)
        now += int(fields["VmRSS"].split()[0])
        peak += int(fields["VmHWM"].split()[0])
    return now // 1024, peak // 1024


def recall() -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "retrieval_bench.py"), "--json"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _cold_rows(cold: dict[str, float], cpu: dict[str, float], names: tuple[str, ...],
               labels: dict[str, str]) -> None:
    for name in names:
        label = labels.get(name, name)
        print(f"| cold start, {label} | {cold[name]:.3f} s | hello-world "
              f"{cold['hello-world']:.3f} s | {cold[name] / cold['hello-world']:.2f}× |")
    for name in names:
        label = labels.get(name, name)
        print(f"| cold start CPU (user+sys), {label} | {cpu[name]:.3f} s | hello-world "
              f"{cpu['hello-world']:.3f} s | {cpu[name] / cpu['hello-world']:.2f}× |")


def _cold_table(cold: dict[str, float], cpu: dict[str, float], names: tuple[str, ...],
                labels: dict[str, str]) -> None:
    print(f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    print()
    print("| figure | value | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    _cold_rows(cold, cpu, names, labels)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--alerts", type=int, default=30)
    parser.add_argument("--cold-only", action="store_true",
                        help="only the cold starts (wall clock and CPU time)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-suite-"))
    cpu: dict[str, float] = {}
    cold = cold_starts(args.runs, work, cpu)
    names = ("ingest", "router", "router-kubeconfig", "agent", "executor", "console")
    labels = {"router": "router (no cluster)", "agent": "agent (no key)",
              "router-kubeconfig": "router (kubeconfig, fake API)"}
    if args.cold_only:
        _cold_table(cold, cpu, names, labels)
        return
    raw_rate, ingest_rate, _ = ingest_rates(1000, 8)
    hop = bare_hop(200, work)
    latencies, rss = end_to_end(args.alerts, work)
    kb = recall()
    q = statistics.quantiles(latencies, n=20)
    print(f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    print()
    print("| figure | value | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    _cold_rows(cold, cpu, names, labels)
    print(f"| ingest throughput | {ingest_rate:.0f} alerts/s | raw broker {raw_rate:.0f} "
          f"events/s | {ingest_rate / raw_rate:.2f}× |")
    p50, p95 = statistics.median(latencies), q[18]
    print(f"| end-to-end per alert, p50 | {p50 * 1000:.0f} ms | 4 bare hops {4 * hop * 1000:.1f}"
          f" ms | {p50 / (4 * hop):.1f}× |")
    print(f"| end-to-end per alert, p95 | {p95 * 1000:.0f} ms | 4 bare hops {4 * hop * 1000:.1f}"
          f" ms | {p95 / (4 * hop):.1f}× |")
    for name, (now, peak) in rss.items():
        print(f"| RSS {name} (arbiter + worker) | {now} MiB (peak {peak}) | | |")
    kp = kb["kube_prometheus"]
    print(f"| recall@1, kube-prometheus with / without runbook_url | "
          f"{kp['a_with_runbook_url']['recall@1']:.3f} / "
          f"{kp['b_without_runbook_url']['recall@1']:.3f} | | |")
    hidden = kp["c_alertname_hidden"]["recall@1"]
    base = kb["baseline_exact_bm25"]["kube_prometheus"]["c_alertname_hidden"]["recall@1"]
    print(f"| recall@1, alertname hidden (semantic retriever on) | {hidden:.3f} | exact + BM25 "
          f"{base:.3f} | {hidden / base:.2f}× |")
    print(f"| recall@1 / abstain accuracy, own runbooks | {kb['own']['recall@1']:.3f} / "
          f"{kb['own']['abstain_accuracy']:.2f} | | |")


if __name__ == "__main__":
    main()
