"""The table of outcomes under faults: each fault alone, then pairs, through the real stack.

For every case: what became of each alert ingest accepted (plan, escalation, dead letter and
why), the writes each workload got on the fake cluster (one is right; two would be an action
run twice), whether the system came back on its own once the dependency returned, and how long
after that it was whole again (every alert at its outcome, the audit log complete, nothing in
flight). The cases and their checks live in tests/functional/fault_cases_support.py, which the
tests run too (tests/functional/test_faults*.py).

Prints a markdown table and writes it to artifacts/faults.md (the broker's log, which runs in
this process, to artifacts/faults.log). The disk-full case mounts a tmpfs, so it runs as root
only (it is reported as not run otherwise).

Usage: .venv/bin/python bench/faults_table.py [--only TEXT] [--out PATH]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT  # noqa: E402
from tests.functional.fault_cases_support import (  # noqa: E402
    PAIRS,
    SINGLES,
    Fault,
    Row,
    markdown,
    run_case,
)
from tests.functional.fault_support import Rig  # noqa: E402


def cases(only: str | None) -> list[tuple[Fault, ...]]:
    every = [(f,) for f in SINGLES] + list(PAIRS)
    if only:
        every = [c for c in every if any(only.lower() in f.name.lower() for f in c)]
    return every


def run(selected: list[tuple[Fault, ...]]) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp, Rig(Path(tmp)) as rig:
        for i, faults in enumerate(selected):
            name = " + ".join(f.name for f in faults)
            if any(f.needs_disk for f in faults) and rig.disk is None:
                rows.append(Row(name, "not run: mounting a tmpfs needs root", "", "", None, []))
                continue
            started = time.monotonic()
            row = run_case(rig, faults, tag=f"case-{i}")
            print(f"{name}: {time.monotonic() - started:.1f} s"
                  + (f"; PROBLEMS: {row.problems}" if row.problems else ""), file=sys.stderr)
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="only the cases with a fault whose name contains this")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "faults.md")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # The broker runs in this process; its retries and dead letters go to a log beside the table.
    logging.basicConfig(filename=args.out.with_suffix(".log"), filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    rows = run(cases(args.only))
    text = (f"Faults through the real stack, measured {datetime.now(UTC):%Y-%m-%d} "
            f"({time.monotonic() - started:.0f} s in all).\n\n" + markdown(rows))
    print(text)
    args.out.write_text(text)
    return 1 if any(r.problems for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
