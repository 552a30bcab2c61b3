"""Remediation memory: what each applied action did, per (runbook, action, workload).

The budget stops a loop within its window; memory stops one across incidents. When the router
gives its verdict on an applied action, the console (which writes the audit log) files one
outcome per applied action under the workload it acted on:

    memory/<sha256(workload)[:32]>/<verdict time>-<event id>-<n>.json

The agent reads a workload's outcomes to show the planner ("rollout_restart on
payments/Deployment/checkout: 2 of the last 3 did not clear KubePodCrashLooping"); the offline
planner skips, and the executor refuses, an action that failed twice on the same workload
within 24 hours. Outcome results:
- `cleared`: the object was healthy and the alert itself stopped firing;
- `healthy`: the object was healthy, the alert was not checked (no Prometheus);
- `failed`: the verdict was `verification-failed` (not healthy, or the alert kept firing).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.audit_layout import file_id, parse_stamp, stamp
from orchestrator.models import Frozen

log = logging.getLogger(__name__)

MEMORY = "memory"
WINDOW = timedelta(hours=24)
MAX_FAILURES = 2
"""Failures of one (runbook, action) on one workload within `WINDOW` that block it."""
MAX_READ = 50
_NAME = re.compile(r"^(\d{8}T\d{12})Z-")

Result = Literal["cleared", "healthy", "failed"]


class Outcome(Frozen):
    runbook: str
    action: str
    workload: str
    """The top owner acted on, `namespace/Kind/name` (the executor's partition key)."""
    alertname: str
    incident_key: str
    result: Result
    at: datetime
    detail: str = ""


def folder(workload: str) -> str:
    return f"{MEMORY}/{hashlib.sha256(workload.encode()).hexdigest()[:32]}"


def outcomes_of(verdict: Mapping[str, Any], log_records: Iterable[Mapping[str, Any]], *,
                at: datetime) -> list[Outcome]:
    """The outcomes a router verdict settles, from the incident's audit records (dicts with
    `type`, `source`, `partitionkey`, `data`), or [] when it settles none (a dry run, an
    Alertmanager `resolved`, an escalation of another stage)."""
    data = verdict.get("data") or {}
    kind, source = verdict.get("type"), verdict.get("source")
    if source != "/orchestrator/router":
        return []
    if kind == "incident.resolved" and data.get("how") in ("verified-healthy", "alert-cleared"):
        result: Result = "cleared" if data["how"] == "alert-cleared" else "healthy"
    elif kind == "incident.escalated" and data.get("reason") == "verification-failed":
        result = "failed"
    else:
        return []
    records = list(log_records)
    plan_id = data.get("plan_id")
    completed = [r for r in records if r.get("type") == "incident.action.completed"
                 and (r.get("data") or {}).get("mode") == "enforce"
                 and (plan_id is None or (r.get("data") or {}).get("plan_id") == plan_id)]
    if not completed:
        return []
    done = completed[-1]
    done_data = done.get("data") or {}
    runbook = _runbook_of(records, done_data.get("plan_id"))
    alertname = str(((done_data.get("alert") or {}).get("labels") or {}).get("alertname", ""))
    out = []
    for r in done_data.get("results") or []:
        if r.get("outcome") not in ("applied", "already-applied"):
            continue
        action = r.get("action") or {}
        target = action.get("target") or {}
        workload = done.get("partitionkey") or \
            f"{target.get('namespace') or '_cluster'}/{target.get('kind')}/{target.get('name')}"
        out.append(Outcome(runbook=runbook, action=str(action.get("type")),
                           workload=str(workload), alertname=alertname,
                           incident_key=str(data.get("incident_key", "")), result=result,
                           at=at, detail=str(data.get("detail", ""))[:300]))
    return out


def _runbook_of(records: list[Mapping[str, Any]], plan_id: str | None) -> str:
    for r in reversed(records):
        plan = (r.get("data") or {}).get("plan") or {}
        if r.get("type") == "incident.plan.proposed" and plan.get("plan_id") == plan_id:
            citations = plan.get("citations") or []
            return str(citations[0].get("runbook", "")) if citations else ""
    return ""


def remember(store: ObjectStore, outcomes: list[Outcome], *, event_id: str) -> None:
    """File each outcome, create-only (a redelivered verdict writes nothing new)."""
    for n, o in enumerate(outcomes):
        key = f"{folder(o.workload)}/{stamp(o.at)}-{file_id(event_id)}-{n}.json"
        store.put(key, o.model_dump_json().encode(), if_absent=True)
        log.info("remembered %s %s on %s: %s", o.runbook, o.action, o.workload, o.result)


def history(store: ObjectStore, workload: str, *, since: datetime) -> list[Outcome]:
    """The workload's outcomes at or after `since`, newest first (at most `MAX_READ`)."""
    keys = []
    for key in store.list(folder(workload) + "/"):
        m = _NAME.match(key.rsplit("/", 1)[-1])
        if m and parse_stamp(m.group(1)) >= since:
            keys.append(key)
    out = []
    for key in sorted(keys, reverse=True)[:MAX_READ]:
        raw = store.get(key)
        if raw is None:
            continue
        try:
            o = Outcome.model_validate_json(raw)
        except ValidationError as e:
            log.warning("skipping unreadable memory record %s: %s", key, e.errors()[0]["msg"])
            continue
        if o.workload == workload:
            out.append(o)
    return out


def failures(past: list[Outcome], *, runbook: str | None, action: str, now: datetime,
             window: timedelta = WINDOW) -> list[Outcome]:
    """Failed outcomes of `action` (from `runbook`, when given) within `window` of `now`."""
    return [o for o in past if o.action == action and o.result == "failed"
            and (runbook is None or not o.runbook or o.runbook == runbook)
            and now - o.at <= window]


def blocked(past: list[Outcome], *, runbook: str | None, action: str, workload: str,
            now: datetime) -> str | None:
    """Why `action` must not run again on `workload`, or None."""
    failed = failures(past, runbook=runbook, action=action, now=now)
    if len(failed) < MAX_FAILURES:
        return None
    incidents = ", ".join(sorted({o.incident_key for o in failed})[:3])
    return (f"{action} on {workload} failed {len(failed)} times within "
            f"{WINDOW.total_seconds() / 3600:.0f} h (incidents {incidents}): not again "
            "without a human")


def describe(past: list[Outcome], *, last: int = 3) -> list[str]:
    """One line per (runbook, action): how the last few turned out."""
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for o in past:  # newest first
        groups.setdefault((o.runbook, o.action), []).append(o)
    lines = []
    for (runbook, action), items in groups.items():
        recent = items[:last]
        bad = [o for o in recent if o.result == "failed"]
        alerts = ", ".join(sorted({o.alertname for o in recent if o.alertname})) or "the alert"
        lines.append(f"{action} on {recent[0].workload} (runbook {runbook or 'unknown'}): "
                     f"{len(bad)} of the last {len(recent)} did not clear {alerts}; latest "
                     f"{recent[0].result} at {recent[0].at:%Y-%m-%d %H:%M}Z")
    return lines
