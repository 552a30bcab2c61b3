"""`orchestrator incidents [list|show KEY]` over the audit log, and `orchestrator approve|reject
PLAN_ID` through the console's HTTP approval API (the same path Slack and the web page take).

A decision is made with the person's own token: the console records whoever that token belongs
to as the approver. There is no `--as`: a name the caller types is never an identity."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    inc = sub.add_parser("incidents", help="list incidents, or show one, from the audit log")
    inc.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    inc.add_argument("key", nargs="?", help="incident key (for `show`)")
    inc.add_argument("--state", type=Path, help="state folder of `orchestrator up` (its audit/)")
    inc.add_argument("--json", action="store_true", help="print JSON")
    inc.add_argument("--status", help="only incidents with this status")
    inc.add_argument("--namespace", help="only incidents in this namespace")
    inc.add_argument("--limit", type=int, default=50)
    inc.add_argument("--rebuild", action="store_true",
                     help="recompute the index from the log first (it is only a cache)")
    inc.set_defaults(run=_incidents)
    for verb in ("approve", "reject"):
        p = sub.add_parser(verb, help=f"{verb} a plan awaiting approval (console HTTP API)")
        p.add_argument("plan_id")
        p.add_argument("--comment", default="")
        p.add_argument("--console", help="console URL (default: the one `up` wrote)")
        p.add_argument("--token", help="your personal token (it decides who approves; prefer "
                       "--token-file, a command line is visible to other users)")
        p.add_argument("--token-file", type=Path,
                       help="file holding your personal token (default: the one `up` "
                       "generated for this machine's user, in the state folder)")
        p.add_argument("--state", type=Path)
        p.set_defaults(run=_decide, verb=verb)


def _store(args: argparse.Namespace) -> Any:
    from orchestrator.adapters.object_store import LocalDirStore
    from orchestrator.console.service import audit_store
    from orchestrator.settings.console import ConsoleSettings

    if args.state is None:
        settings = ConsoleSettings()
        if settings.audit_endpoint or settings.audit_dir:
            return audit_store(settings)
    from orchestrator.cli.local_state import state_dir

    folder = state_dir(args) / "audit"
    if not folder.is_dir():
        raise SystemExit(f"no audit log in {folder}: pass --state, or set CONSOLE_AUDIT_DIR / "
                         "CONSOLE_AUDIT_ENDPOINT")
    return LocalDirStore(folder)


def _incidents(args: argparse.Namespace) -> int:
    from orchestrator.console import api, audit, index
    from orchestrator.errors import OrchestratorError

    store = _store(args)
    try:
        if args.rebuild:
            print(f"index rebuilt: {index.rebuild(store)} incidents", file=sys.stderr)
        if args.action == "show":
            if not args.key:
                raise SystemExit("incidents show needs an incident key")
            summary = index.get(store, args.key)
            if summary is None:
                print(f"no incident {args.key}", file=sys.stderr)
                return 1
            records = audit.read(store, args.key)
            if args.json:
                print(json.dumps({"summary": summary.model_dump(mode="json"),
                                  "events": [json.loads(r.to_json()) for r in records]}))
            else:
                print(_show(summary, records))
            return 0
        found = index.summaries(store, keep=api.keep(args.status, args.namespace),
                                limit=args.limit)
    except OrchestratorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in found]))
        return 0
    if not found:
        print("no incidents")
        return 0
    rows = [(s.started_at.strftime("%Y-%m-%d %H:%M") if s.started_at else "?", s.status,
             s.alertname, s.target or "-", s.incident_key) for s in found]
    print(table(("STARTED", "STATUS", "ALERT", "TARGET", "INCIDENT"), rows))
    return 0


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """Columns as wide as their widest cell: names are never cut (a cut key cannot be pasted
    into `incidents show`); the last column is not padded."""
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(str(c).ljust(w) for c, w in zip(r, widths, strict=False)),
                                 str(r[-1])]) for r in (header, *rows))


def _show(summary: Any, records: list[Any]) -> str:
    lines = [f"incident {summary.incident_key}  {summary.alertname} {summary.target}".rstrip(),
             f"  status: {summary.status}" + (f" ({summary.reason})" if summary.reason else "")]
    t0 = records[0].when if records else None
    for r in records:
        offset = (r.when - t0).total_seconds() if t0 else 0.0
        stamp = f"+{offset:.3f}s"
        lines.append(f"  {stamp:<11} {r.type:<28} {r.source.rsplit('/', 1)[-1]:<9} "
                     f"{_detail(r.type, r.data)}".rstrip())
    return "\n".join(lines)


def _detail(kind: str, data: Any) -> str:
    d = data if isinstance(data, dict) else {}
    plan = d.get("plan") or {}
    if kind.endswith("alert.received"):
        return str((d.get("alert") or {}).get("status", ""))
    if kind.endswith("plan.proposed"):
        return f"plan {plan.get('plan_id')}: {str(plan.get('hypothesis', ''))[:80]}"
    if kind.endswith("approval.requested"):
        return f"plan {plan.get('plan_id')}, expires {d.get('expires_at')}"
    if kind.endswith(("plan.approved", "plan.rejected")):
        return f"by {d.get('approver')} at {d.get('decided_at')}"
    if kind.endswith(("action.completed", "action.failed")):
        outcomes = ", ".join(str(r.get("outcome")) for r in d.get("results") or [])
        return f"{d.get('mode')}: {outcomes}"
    if kind.endswith("escalated"):
        return f"{d.get('reason')}: {str(d.get('detail', ''))[:80]}"
    if kind.endswith("resolved"):
        return str(d.get("how", ""))
    return ""


def _decide(args: argparse.Namespace) -> int:
    import httpx

    from orchestrator.cli.local_state import console_access

    url, token = console_access(args)
    try:
        r = httpx.post(f"{url}/api/approvals/{args.plan_id}/{args.verb}",
                       json={"comment": args.comment},
                       headers={"Authorization": f"Bearer {token}"}, timeout=30,
                       trust_env=False)
    except httpx.HTTPError as e:
        print(f"console unreachable at {url}: {e}", file=sys.stderr)
        return 1
    try:
        doc = r.json()
    except ValueError:
        doc = {"error": r.text[:300]}
    if r.status_code != 202:
        print(f"refused (HTTP {r.status_code}): {doc.get('error', doc)}", file=sys.stderr)
        return 1
    again = " (already decided; the same decision was sent again)" if doc.get("repeated") else ""
    print(f"plan {doc['plan_id']} {doc['decision']} by {doc['approver']}; event "
          f"{doc['event_id']}{again}")
    return 0
