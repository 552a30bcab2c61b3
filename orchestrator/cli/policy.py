"""`orchestrator policy schema` and `orchestrator policy check FILE…`: the executor's policy as
a document an editor and CI can validate before it reaches the executor.

`schema` prints the JSON Schema (`orchestrator.act.policy_schema`) for an editor's YAML language
server; `check` validates files exactly as the executor will, naming the line of each mistake,
and exits 1 on the first broken one (a broken policy stops every action: better found here).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    pol = sub.add_parser("policy", help="print the executor policy's JSON Schema, or check files")
    verbs = pol.add_subparsers(dest="verb", required=True)
    sch = verbs.add_parser("schema", help="the policy's JSON Schema (for editors)")
    sch.set_defaults(run=_schema)
    chk = verbs.add_parser("check", help="validate policy files as the executor does")
    chk.add_argument("files", nargs="+", type=Path, metavar="FILE")
    chk.set_defaults(run=_check)


def _schema(args: argparse.Namespace) -> int:
    from orchestrator.act.policy_schema import policy_schema_json

    sys.stdout.write(policy_schema_json())
    return 0


def _check(args: argparse.Namespace) -> int:
    from orchestrator.act.policy import PolicyError, load_policy

    status = 0
    for path in args.files:
        try:
            policy = load_policy(path)
        except PolicyError as e:
            print(e, file=sys.stderr)
            status = 1
            continue
        shadow = "" if policy.writes_anywhere() else " (shadow mode: nothing writes)"
        print(f"{path}: ok, default level {policy.level}{shadow}")
    return status
