"""`orchestrator audit verify [--since]` (is the audit log as it was written?) and
`orchestrator trust report [--since 30d] [--json]` (what has each workload earned?).

Both read the audit store the way `incidents` does: the console's settings (MinIO/S3 or a
folder), else the state folder of `orchestrator up`. `verify` checks the day roots' signatures
with the console's public key when it can find it (settings, else the state folder) and says
so when it cannot.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.provenance import Keyring


def register(sub: Any) -> None:
    aud = sub.add_parser("audit", help="check the audit log's hash chain and signed day roots")
    verbs = aud.add_subparsers(dest="verb", required=True)
    ver = verbs.add_parser("verify", help="recompute the chain and report the first break")
    ver.add_argument("--since", type=since_arg,
                     help="only days since then: `30d`, `12h` or a date (default: all)")
    _common(ver)
    ver.set_defaults(run=_verify)
    adopt = verbs.add_parser("adopt", help="link records logged before the chain existed (once, "
                             "right after upgrading: it vouches for them as they are now)")
    _common(adopt)
    adopt.set_defaults(run=_adopt)
    trust = sub.add_parser("trust", help="evidence per namespace and workload for promotion")
    tverbs = trust.add_subparsers(dest="verb", required=True)
    rep = tverbs.add_parser("report", help="incidents, would-do/did, human agreement, "
                            "cleared alerts, refusals, and a recommendation")
    rep.add_argument("--since", type=since_arg, default=since_arg("30d"),
                     help="incidents that started since then (default 30d)")
    _common(rep)
    rep.set_defaults(run=_trust)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", type=Path, help="state folder of `orchestrator up` (its audit/)")
    p.add_argument("--json", action="store_true", help="print JSON")


def since_arg(text: str) -> datetime:
    """`30d`, `12h`, `90m` before now, or a date / RFC 3339 time."""
    from orchestrator.console.trust import parse_since

    try:
        return parse_since(text, now=datetime.now(UTC))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a span (30d, 12h) or a date: {text!r}") from None


def _keyring(args: argparse.Namespace) -> Keyring | None:
    """The console's public key(s), which sign the day roots: from the console's settings
    (CONSOLE_PUBLIC_KEYS_DIR), else the state folder of `orchestrator up` (keys/public)."""
    from datetime import timedelta

    from orchestrator.provenance import load_keyring
    from orchestrator.settings.console import ConsoleSettings

    folder = ConsoleSettings().public_keys_dir
    if folder is None:
        from orchestrator.cli.local_state import state_dir

        candidate = state_dir(args) / "keys" / "public"
        folder = candidate if candidate.is_dir() else None
    if folder is None:
        return None
    ring = load_keyring(folder, max_age=timedelta(days=1), skew=timedelta(0))
    return ring if "console" in ring.producers() else None


def _verify(args: argparse.Namespace) -> int:
    from orchestrator.cli.incidents import _store
    from orchestrator.console.verify import verify
    from orchestrator.errors import OrchestratorError

    store = _store(args)
    keyring = _keyring(args)
    try:
        report = verify(store, keyring=keyring, since=args.since)
    except OrchestratorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_json()))
        return 0 if report.ok else 1
    scope = (f"{report.incidents} incident(s), {report.records} record(s), {report.links} "
             f"link(s), {len(report.days)} sealed day(s)")
    if not report.signatures:
        print("warning: no console public key (CONSOLE_PUBLIC_KEYS_DIR, or keys/public in the "
              "state folder): day roots were checked for structure, not for who signed them",
              file=sys.stderr)
    if report.unsealed:
        print(f"warning: {len(report.unsealed)} finished day(s) with no signed root "
              f"({', '.join(report.unsealed[:5])}{'…' if len(report.unsealed) > 5 else ''}): "
              "is the sweep running with the console's signing key?", file=sys.stderr)
    first = report.first
    if first is None:
        print(f"audit log intact: {scope}")
        return 0
    print(f"audit log BROKEN: {len(report.breaks)} break(s) in {scope}")
    print(f"first break: {first.kind} at {first.where}: {first.detail}")
    for b in sorted(report.breaks, key=lambda b: (b.at, b.where))[1:20]:
        print(f"  then: {b.kind} at {b.where}: {b.detail}")
    return 1


def _adopt(args: argparse.Namespace) -> int:
    from orchestrator.cli.incidents import _store
    from orchestrator.console.verify import adopt

    store = _store(args)
    found = adopt(store, now=datetime.now(UTC))
    if args.json:
        print(json.dumps({"adopted": found}))
    else:
        print(f"{sum(found.values())} record(s) of {len(found)} incident(s) linked into the "
              "chain as they are now")
    return 0


def _trust(args: argparse.Namespace) -> int:
    from orchestrator.cli.incidents import _store, table
    from orchestrator.console import trust
    from orchestrator.console.thresholds import TrustThresholds
    from orchestrator.settings.console import ConsoleSettings

    thresholds = TrustThresholds.of(ConsoleSettings())
    scopes = trust.report(_store(args), since=args.since, thresholds=thresholds)
    spaces = trust.namespaces(scopes, thresholds)
    if args.json:
        print(json.dumps({"since": args.since.isoformat(),
                          "thresholds": {n.removeprefix("trust_"): getattr(thresholds, n)
                                         for n in TrustThresholds.model_fields},
                          "namespaces": [s.as_json() for s in spaces],
                          "workloads": [s.as_json() for s in scopes]}))
        return 0
    if not scopes:
        print(f"no incidents since {args.since:%Y-%m-%d %H:%M}Z")
        return 0
    rows = [(s.namespace, s.workload, str(s.incidents), s.level,
             _counts(s.would_do), _counts(s.did),
             f"{s.approved}/{s.decisions}" if s.decisions else "-",
             f"{s.cleared}/{s.cleared + s.not_cleared}" if s.cleared + s.not_cleared else "-",
             _counts(s.refusals) if s.refusals else "0", s.recommendation)
            for s in [*spaces, *scopes]]
    print(table(("NAMESPACE", "WORKLOAD", "INCIDENTS", "LEVEL", "WOULD DO", "DID", "APPROVED",
                 "CLEARED", "REFUSALS", "RECOMMENDATION"), rows))
    print("\nPromotion is a change to the executor's policy, made by a human.")
    return 0


def _counts(c: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.most_common()) or "-"
