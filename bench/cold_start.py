"""Cold start of ingest next to a hello-world functions-framework function, in the same run.

Seconds from process spawn to the first answered real request (a webhook POST for ingest that is
accepted and published to a broker stand-in; a GET for hello-world). Target: ingest ≤ 1.5×.
Ingest runs twice: as shipped (OpenTelemetry off, its SDK never imported) and with
OTEL_EXPORTER_OTLP_ENDPOINT set (spans exported to the same stand-in), to show what tracing costs.
Usage: .venv/bin/python bench/cold_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    ROOT,
    accepting_sink,
    first_answer,
    hello_source,
    median_of,
)
from orchestrator.local.keyring import ensure_keyring, key_env  # noqa: E402

PAYLOAD = json.loads((ROOT / "tests/events/alertmanager_crashloop.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sink = accepting_sink()
    keys = Path(tempfile.mkdtemp(prefix="cold-start-keys-"))
    ensure_keyring(keys, ("ingest",))  # ingest signs what it emits, or refuses to emit
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
           **key_env(keys, "ingest"), "INGEST_TOKEN": "bench",
           "INGEST_BROKER_URL": f"http://127.0.0.1:{sink.server_address[1]}/"}

    def hello(client: httpx.Client, url: str) -> httpx.Response:
        r = client.get(url + "/")
        r.raise_for_status()
        return r

    def ingest(client: httpx.Client, url: str) -> httpx.Response:
        r = client.post(url + "/", json=PAYLOAD, headers={"Authorization": "Bearer bench"})
        if r.status_code != 200:
            raise RuntimeError(f"ingest answered {r.status_code}: {r.text}")
        return r

    cpu: dict[str, list[float]] = {"hello": [], "ingest": [], "otel": []}
    h, h_runs = median_of(args.runs, lambda: first_answer(hello_source(), env, hello,
                                                          cpu=cpu["hello"]))
    i, i_runs = median_of(args.runs, lambda: first_answer(
        ROOT / "functions/ingest/main.py", env, ingest, cpu=cpu["ingest"]))
    otel_env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": env["INGEST_BROKER_URL"].rstrip("/")}
    o, o_runs = median_of(args.runs, lambda: first_answer(
        ROOT / "functions/ingest/main.py", otel_env, ingest, cpu=cpu["otel"]))
    hc, ic, oc = (statistics.median(cpu[k]) for k in ("hello", "ingest", "otel"))
    print(f"{'function':<12}{'median s':>10}{'ratio':>8}  runs")
    print(f"{'hello-world':<12}{h:>10.3f}{1.0:>8.2f}  {' '.join(f'{x:.3f}' for x in h_runs)}")
    print(f"{'ingest':<12}{i:>10.3f}{i / h:>8.2f}  {' '.join(f'{x:.3f}' for x in i_runs)}")
    print(f"{'ingest+otel':<12}{o:>10.3f}{o / h:>8.2f}  {' '.join(f'{x:.3f}' for x in o_runs)}"
          f"  ({o / i:.2f}x ingest)")
    print("CPU seconds (user+sys) until the first answer, median, and the ratio to hello-world:")
    print(f"  hello-world {hc:.3f}, ingest {ic:.3f} ({ic / hc:.2f}x), "
          f"ingest+otel {oc:.3f} ({oc / hc:.2f}x, {oc / ic:.2f}x ingest)")
    sink.shutdown()


if __name__ == "__main__":
    main()
