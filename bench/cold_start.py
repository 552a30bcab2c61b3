"""Cold start of ingest next to a hello-world functions-framework function, in the same run.

Seconds from process spawn to the first answered real request (a webhook POST for ingest that is
accepted and published to a broker stand-in; a GET for hello-world). Target: ingest ≤ 1.5×.
Usage: .venv/bin/python bench/cold_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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

PAYLOAD = json.loads((ROOT / "tests/events/alertmanager_crashloop.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sink = accepting_sink()
    env = {**os.environ, "INGEST_TOKEN": "bench",
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

    h, h_runs = median_of(args.runs, lambda: first_answer(hello_source(), env, hello))
    i, i_runs = median_of(args.runs, lambda: first_answer(
        ROOT / "functions/ingest/main.py", env, ingest))
    print(f"{'function':<12}{'median s':>10}{'ratio':>8}  runs")
    print(f"{'hello-world':<12}{h:>10.3f}{1.0:>8.2f}  {' '.join(f'{x:.3f}' for x in h_runs)}")
    print(f"{'ingest':<12}{i:>10.3f}{i / h:>8.2f}  {' '.join(f'{x:.3f}' for x in i_runs)}")
    sink.shutdown()


if __name__ == "__main__":
    main()
