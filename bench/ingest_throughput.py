"""Ingest throughput: alerts/s from webhook to the broker's durable queue, next to events/s
POSTed straight to the same broker's ingress, in the same run. Target: ≥ 0.5× the raw figure.

The broker is the real local broker (SQLite queue) with no Triggers, so the figure is ingress
work only. Usage: .venv/bin/python bench/ingest_throughput.py [--alerts N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT, free_port, spawn  # noqa: E402
from orchestrator.local.broker import Broker  # noqa: E402
from orchestrator.local.triggers import load_eventing  # noqa: E402

BROKER_ONLY = """
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: incidents, annotations: {eventing.knative.dev/broker.class: Kafka}}
spec: {delivery: {retry: 0}}
"""


def _payloads(n: int) -> list[bytes]:
    base = json.loads((ROOT / "tests/events/alertmanager_crashloop.json").read_text())
    out = []
    for i in range(n):
        doc = copy.deepcopy(base)
        doc["alerts"][0]["fingerprint"] = f"{i:016x}"
        doc["alerts"][0]["labels"]["pod"] = f"checkout-{i}"
        out.append(json.dumps(doc).encode())
    return out


def _run(n: int, concurrency: int, send) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, range(n)))
    return n / (time.perf_counter() - start)


def measure(alerts: int = 2000, concurrency: int = 8) -> tuple[float, float, int]:
    """(raw events/s into the broker, alerts/s through ingest, events stored)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    (folder / "eventing").mkdir()
    (folder / "eventing" / "broker.yaml").write_text(BROKER_ONLY)
    broker = Broker(db_path=folder / "q.sqlite3", subscribers={},
                    config=load_eventing(folder / "eventing"))
    broker.start()
    port = free_port()
    env = {**os.environ, "INGEST_TOKEN": "bench", "INGEST_BROKER_URL": broker.url + "/"}
    proc = spawn(ROOT / "functions/ingest/main.py", port, env)
    clients = [httpx.Client(timeout=30, trust_env=False) for _ in range(concurrency)]
    try:
        ingest = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(ingest + "healthz", trust_env=False)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        payloads = _payloads(alerts)

        def via_ingest(i: int) -> None:
            r = clients[i % concurrency].post(
                ingest, content=payloads[i],
                headers={"Authorization": "Bearer bench", "content-type": "application/json"})
            assert r.status_code == 200, r.text

        def raw(i: int) -> None:
            headers = {"ce-specversion": "1.0", "ce-type": "incident.alert.received",
                       "ce-source": "/bench", "ce-id": f"raw-{i}",
                       "content-type": "application/json"}
            r = clients[i % concurrency].post(broker.url + "/", content=payloads[i],
                                                   headers=headers)
            assert r.status_code == 202, r.text

        raw_rate = _run(alerts, concurrency, raw)
        ingest_rate = _run(alerts, concurrency, via_ingest)
        return raw_rate, ingest_rate, len(broker.events())
    finally:
        for c in clients:
            c.close()
        proc.terminate()
        proc.wait(10)
        broker.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    raw_rate, ingest_rate, stored = measure(args.alerts, args.concurrency)
    print(f"{'path':<26}{'per s':>10}{'ratio':>8}")
    print(f"{'raw POST to broker':<26}{raw_rate:>10.0f}{1.0:>8.2f}")
    print(f"{'webhook via ingest':<26}{ingest_rate:>10.0f}{ingest_rate / raw_rate:>8.2f}")
    print(f"events in the durable queue: {stored} (expected {2 * args.alerts})")


if __name__ == "__main__":
    main()
