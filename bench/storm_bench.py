"""An alert storm (default 1,000 alerts of 10 fingerprints) through the embedded stack in
redeliver-and-shuffle mode: wall time, LLM calls, actions per workload, peak RSS per function.
Usage: .venv/bin/python bench/storm_bench.py [--alerts N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.functional.test_storm import WORKLOADS, run_storm  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1000)
    args = parser.parse_args()
    r = run_storm(Path(tempfile.mkdtemp(prefix="bench-storm-")), args.alerts)
    print(f"alerts {r['alerts']} of {WORKLOADS} fingerprints, incidents {len(r['keys'])}")
    print(f"wall time {r['wall_seconds']:.1f} s, events stored {len(r['events'])}, "
          f"dead letters {len(r['dead'])}")
    print(f"LLM calls {r['llm_calls']}, restarts per workload "
          f"{sorted(set(r['restarts'].values()))} over {len(r['restarts'])} workloads")
    print("peak RSS (MiB): " + ", ".join(f"{k} {v}" for k, v in r["peak_rss_mib"].items()))


if __name__ == "__main__":
    main()
