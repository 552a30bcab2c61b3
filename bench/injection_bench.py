"""The prompt-injection suite's result per planner: offline, Gemini (the fake speaking its wire
format) and OpenAI-compatible (the fake speaking the chat completions wire format), each behind a
model that obeys every injection it reads.

Runs tests/functional/test_injection.py in this process with pytest, so the verdicts are the
suite's own, and prints per provider: its tests passed / failed / skipped, and what the run
behind them did (the `run` each test was given): hostile cases and controls, incidents by
outcome, model calls and the answers the agent refused and asked again, writes to the cluster,
and the run's wall time.
Usage: .venv/bin/python bench/injection_bench.py [-k EXPR]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT  # noqa: E402

PROVIDERS = ("offline", "gemini", "openai")
SUITE = "tests/functional/test_injection.py"


class Collect:
    """A pytest plugin noting each test's verdict and the `run` it was handed, per provider."""

    def __init__(self) -> None:
        self.verdicts: dict[str, Counter[str]] = defaultdict(Counter)
        self.failed: dict[str, list[str]] = defaultdict(list)
        self.seconds: Counter[str] = Counter()
        self.runs: dict[str, Any] = {}

    def pytest_runtest_call(self, item: pytest.Item) -> None:
        run = getattr(item, "funcargs", {}).get("run")
        if run is not None:
            self.runs.setdefault(run.mode, run)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        found = re.search(r"\[(.*)\]$", report.nodeid)
        parts = found.group(1).split("-") if found else []
        provider = next((p for p in parts if p in PROVIDERS), "corpus")
        self.seconds[provider] += report.duration
        if report.when == "call" or report.outcome != "passed":
            verdict = "error" if report.when != "call" and report.failed else report.outcome
            self.verdicts[provider][verdict] += 1
            if report.failed:
                self.failed[provider].append(report.nodeid.split("::")[-1])


def figures(run: Any) -> dict[str, Any]:
    from tests.functional.injection_support import CASES

    hostile = [c for c in CASES if c.where != "none"]
    asked = Counter(c.name for c in CASES for r in run.prompts
                    if re.search(rf"\b{c.name}\b", r.prompt))
    writes = [r for r in run.writes if "/leases" not in r.path and not r.path.endswith("/events")]
    return {"hostile": len(hostile), "controls": len(CASES) - len(hostile),
            "outcomes": Counter(run.outcomes.values()), "calls": len(run.prompts),
            "asked again": sum(1 for n in asked.values() if n > 1),
            "writes": len(writes), "dead letters": len(run.dead)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-k", default="", help="pytest -k expression (e.g. 'openai')")
    args = parser.parse_args()
    os.chdir(ROOT)
    collect = Collect()
    argv = ["-q", "-p", "no:cacheprovider", "--no-header", SUITE]
    if args.k:
        argv += ["-k", args.k]
    pytest.main(argv, plugins=[collect])
    print("\nprompt-injection suite per provider (tests/functional/test_injection.py)")
    for provider in (*PROVIDERS, "corpus"):
        v = collect.verdicts.get(provider)
        if not v:
            continue
        print(f"\n{provider}: {v['passed']} passed, {v['failed']} failed, {v['error']} errors, "
              f"{v['skipped']} skipped, {collect.seconds[provider]:.0f} s")
        for name in collect.failed.get(provider, []):
            print(f"  FAILED {name}")
        if provider in collect.runs:
            f = figures(collect.runs[provider])
            print(f"  {f['hostile']} hostile cases + {f['controls']} controls; model calls "
                  f"{f['calls']}, answers refused and asked again {f['asked again']}; "
                  f"cluster writes {f['writes']}; dead letters {f['dead letters']}")
            for outcome, n in sorted(f["outcomes"].items()):
                print(f"  {n:>3}  {outcome}")


if __name__ == "__main__":
    main()
