"""Cold start of the five functions with OpenTelemetry off and on, next to a hello-world
functions-framework function measured in the same run.

Per function: spawn → its first answered real request (`bench.first_requests`: what it meets
first in the loop), twice: as shipped, no `OTEL_*` variable (the SDK is never imported), and with
OTEL_EXPORTER_OTLP_ENDPOINT pointing at a loopback sink that accepts the exports. Each figure is
the median of --runs spawns, as wall seconds and as CPU seconds (user + system of the function's
processes up to the answer: the steadier one on a shared machine), each a ratio to hello-world;
the last column is what switching export on costs (on / off, CPU).
Usage: .venv/bin/python bench/cold_start.py [--runs N] [--only ingest,router,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT, Timing, accepting_sink, first_answer_timed, hello_source  # noqa: E402
from bench.first_requests import FUNCTIONS, first_requests, hello  # noqa: E402


def median(runs: list[Timing]) -> Timing:
    return Timing(statistics.median(t.wall for t in runs), statistics.median(t.cpu for t in runs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default=",".join(FUNCTIONS))
    args = parser.parse_args()
    sink = accepting_sink()
    url = f"http://127.0.0.1:{sink.server_address[1]}"
    env, requests = first_requests(Path(tempfile.mkdtemp(prefix="cold-start-")), url + "/")
    otel_env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": url}
    names = [n for n in args.only.split(",") if n]
    h = median([first_answer_timed(hello_source(), env, hello) for _ in range(args.runs)])
    print(f"{args.runs} runs each, medians; ratios to hello-world measured in this run")
    print(f"{'function':<16}{'wall s':>8}{'wall ×':>8}{'cpu s':>8}{'cpu ×':>8}{'on/off cpu':>12}")
    print(f"{'hello-world':<16}{h.wall:>8.3f}{1.0:>8.2f}{h.cpu:>8.3f}{1.0:>8.2f}")
    for name in names:
        source = ROOT / "functions" / name / "main.py"
        # Off and on alternate spawn by spawn, so a busy spell on the machine hits both alike.
        off, on = [], []
        for _ in range(args.runs):
            off.append(first_answer_timed(source, env, requests[name]))
            on.append(first_answer_timed(source, otel_env, requests[name]))
        for label, t in ((name, median(off)), (f"{name}+otel", median(on))):
            extra = f"{median(on).cpu / median(off).cpu:>12.2f}" if label.endswith("otel") else ""
            print(f"{label:<16}{t.wall:>8.3f}{t.wall / h.wall:>8.2f}{t.cpu:>8.3f}"
                  f"{t.cpu / h.cpu:>8.2f}{extra}")
    sink.shutdown()


if __name__ == "__main__":
    main()
