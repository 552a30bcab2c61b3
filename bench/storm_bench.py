"""An alert storm through the embedded stack in redeliver-and-shuffle mode (the broker delivers
everything twice, shuffled): by default 1,000 Alertmanager alerts of 10 fingerprints, the storm
of tests/functional/test_storm.py. Prints wall time (first POST to an idle broker), deliveries,
LLM calls, cluster writes per workload, and the peak memory (VmHWM) of each function process.

Usage: .venv/bin/python bench/storm_bench.py [--alerts N] [--no-chaos]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.functional.test_storm import WORKLOADS, run_storm  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--no-chaos", action="store_true",
                        help="deliver each event once, in order (the baseline)")
    args = parser.parse_args()
    # A `timeout` or Ctrl-C must still stop the stack's five function processes (their own
    # sessions): unwind through its `with` instead of dying on the signal.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    r = run_storm(Path(tempfile.mkdtemp(prefix="bench-storm-")), args.alerts,
                  chaos=not args.no_chaos)
    mode = "once, in order" if args.no_chaos else "redeliver-and-shuffle (every delivery twice)"
    per_workload = sorted(set(r["writes"].values()))
    print(f"storm: {r['alerts']} alerts in {r['webhooks']} webhooks, {WORKLOADS} fingerprints, "
          f"{len(r['keys'])} incidents; broker mode: {mode}")
    print(f"wall time          {r['wall_seconds']:8.1f} s")
    print(f"deliveries         {r['deliveries']:8d}  ({r['deliveries'] / r['wall_seconds']:.0f}/s)"
          f", events stored {len(r['events'])}, dead letters {len(r['dead'])}")
    print(f"LLM calls          {r['llm_calls']:8d}  (at most one per fingerprint: {WORKLOADS})")
    print(f"cluster writes     {sum(r['writes'].values()):8d}  on {len(r['writes'])} targets, "
          f"per target {per_workload}")
    print("peak RSS (VmHWM)   function  process  worker  (MiB)")
    for name, peaks in r["peak_rss_kib"].items():
        main_kib = peaks.get("main", 0)
        workers = [v for k, v in peaks.items() if k != "main"]
        print(f"                   {name:9s} {main_kib / 1024:7.1f} "
              f"{max(workers, default=0) / 1024:7.1f}")


if __name__ == "__main__":
    main()
