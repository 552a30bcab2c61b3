"""The trust report: per namespace and workload, the evidence a human promotes a scope on.

Autonomy is earned per scope (observe → dry-run → approve → auto). This module reads the audit
log and counts, for each workload, what the loop would have done (dry runs, approval requests)
and did (actions it applied), how often a human made the same call (approved the plan rather
than rejecting it), how often the alert cleared after the loop's action (only where the
router's verdict says so: `alert-cleared`, as opposed to merely `verified-healthy`), and what
policy refused, by reason. Its recommendation applies the thresholds of the console's settings;
it never changes a level: promotion stays a human's change to policy.

The level a workload is at is read from its latest incident (the policy may have changed since
older ones): applied without an approver → `auto`; an approval request → `approve`; a dry run
→ `dry-run`; a shadow-mode "would do" record (`action.completed` at `observe`) or nothing
evaluated → `observe`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.audit_layout import parse_stamp
from orchestrator.console import audit
from orchestrator.console.status import ordered
from orchestrator.events import (
    ACTION_COMPLETED,
    ALERT_RECEIVED,
    APPROVAL_REQUESTED,
    CONTEXT_ENRICHED,
    ESCALATED,
    PLAN_APPROVED,
    PLAN_REJECTED,
    RESOLVED,
)

if TYPE_CHECKING:
    from orchestrator.console.thresholds import TrustThresholds

LEVELS = ("observe", "dry-run", "approve", "auto")
REFUSALS = frozenset({"policy", "budget", "loop-guard", "invalid-plan", "approval-invalid"})
"""Escalation reasons that are policy saying no (the others are the loop finding no answer)."""
_STARTED = re.compile(r"-(\d{8}T\d{6})Z$")
_SPAN = re.compile(r"^(\d{1,5})([dhm])$")


def parse_since(text: str, *, now: datetime) -> datetime:
    """`30d`, `12h`, `90m` before `now`, or a date / RFC 3339 time; ValueError otherwise."""
    m = _SPAN.match(text.strip())
    if m:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
        return now - timedelta(**{unit: int(m.group(1))})
    when = datetime.fromisoformat(text.strip())
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class Scope:
    """The evidence of one workload (`namespace/Kind/name`) in one namespace."""

    namespace: str
    workload: str
    incidents: int = 0
    would_do: Counter[str] = field(default_factory=Counter)
    did: Counter[str] = field(default_factory=Counter)
    approved: int = 0
    rejected: int = 0
    cleared: int = 0
    healthy: int = 0
    not_cleared: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    escalations: Counter[str] = field(default_factory=Counter)
    level: str = "observe"
    latest: datetime | None = None
    recommendation: str = ""

    @property
    def decisions(self) -> int:
        return self.approved + self.rejected

    def as_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "workload": self.workload,
                "incidents": self.incidents, "level": self.level,
                "would_do": dict(self.would_do), "did": dict(self.did),
                "human": {"approved": self.approved, "rejected": self.rejected},
                "verdicts": {"cleared": self.cleared, "healthy": self.healthy,
                             "not_cleared": self.not_cleared},
                "refusals": dict(self.refusals), "escalations": dict(self.escalations),
                "recommendation": self.recommendation}


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ref(t: dict[str, Any]) -> str:
    return "/".join(str(t[k]) for k in ("namespace", "kind", "name") if t.get(k)) or ""


def _workload(records: list[audit.Record]) -> str:
    """The top owner the loop acted or would act on, else the alerted object."""
    for r in reversed(records):
        if r.type != ALERT_RECEIVED and r.partitionkey and r.partitionkey.count("/") == 2:
            return r.partitionkey
    for r in reversed(records):
        actions = _d(_d(r.data).get("plan")).get("actions") or []
        if actions and _ref(_d(_d(actions[0]).get("target"))):
            return _ref(_d(_d(actions[0]).get("target")))
        if r.type == CONTEXT_ENRICHED:
            # The top owner (owners are listed nearest first), not the pod: pods come and go,
            # and a workload's evidence must not scatter over their names.
            ctx = _d(_d(r.data).get("context"))
            owners = [_ref(_d(o)) for o in ctx.get("owners") or []]
            target = next((o for o in reversed(owners) if o), "") or _ref(_d(ctx.get("target")))
            if target:
                return target
    return "(no target)"


def _types(results: Any, outcomes: tuple[str, ...]) -> list[str]:
    return [str(_d(_d(x).get("action")).get("type")) for x in results or []
            if _d(x).get("outcome") in outcomes]


def _add(scope: Scope, records: list[audit.Record]) -> None:
    """Count one incident's records into its scope."""
    scope.incidents += 1
    level, enforced = "observe", False
    for r in records:
        d = _d(r.data)
        if r.type == ACTION_COMPLETED and d.get("mode") == "observe":
            scope.would_do.update(_types(d.get("results"), ("would-do",)))
        elif r.type == ACTION_COMPLETED and d.get("mode") == "dry-run":
            scope.would_do.update(_types(d.get("results"), ("dry-run",)))
            level = max(level, "dry-run", key=LEVELS.index)
        elif r.type == ACTION_COMPLETED:
            applied = _types(d.get("results"), ("applied", "already-applied"))
            scope.did.update(applied)
            enforced = enforced or bool(applied)
            level = "auto" if not d.get("approver") else max(level, "approve", key=LEVELS.index)
        elif r.type == APPROVAL_REQUESTED:
            scope.would_do.update(_types(d.get("dry_runs"), ("dry-run",)))
            level = max(level, "approve", key=LEVELS.index)
        elif r.type == PLAN_APPROVED:
            scope.approved += 1
        elif r.type == PLAN_REJECTED:
            scope.rejected += 1
        elif r.type == RESOLVED and enforced and r.source == "/orchestrator/router":
            if d.get("how") == "alert-cleared":
                scope.cleared += 1
            elif d.get("how") == "verified-healthy":
                scope.healthy += 1
        elif r.type == ESCALATED:
            reason = str(d.get("reason", ""))
            if reason == "verification-failed" and enforced:
                scope.not_cleared += 1
            elif reason in REFUSALS:
                scope.refusals[reason] += 1
            elif reason:
                scope.escalations[reason] += 1
    when = records[-1].when if records else None
    if when is not None and (scope.latest is None or when >= scope.latest):
        scope.latest, scope.level = when, level


def recommend(s: Scope, t: TrustThresholds) -> str:
    """One line a human can act on; it only ever suggests."""
    if s.level == "auto":
        verdicts = s.cleared + s.not_cleared
        if verdicts and s.cleared / verdicts < t.trust_min_cleared:
            return (f"review auto: the alert cleared after {s.cleared} of {verdicts} actions "
                    f"(below {t.trust_min_cleared:.0%})")
        return "at auto: keep watching the cleared rate"
    nxt = LEVELS[LEVELS.index(s.level) + 1]
    if s.incidents < t.trust_min_incidents:
        return f"stay at {s.level}: {s.incidents} incident(s), {t.trust_min_incidents} needed"
    refused = sum(s.refusals.values())
    if refused > t.trust_max_refusals:
        reasons = ", ".join(f"{k} {v}" for k, v in s.refusals.most_common())
        return (f"stay at {s.level}: {refused} refusal(s) ({reasons}), "
                f"at most {t.trust_max_refusals}")
    if s.decisions and s.approved / s.decisions < t.trust_min_agreement:
        return (f"stay at {s.level}: humans approved {s.approved} of {s.decisions} plans "
                f"(below {t.trust_min_agreement:.0%})")
    if s.level == "approve" and s.decisions < t.trust_min_incidents:
        return (f"stay at approve: {s.decisions} human decision(s), {t.trust_min_incidents} needed "
                "before auto")
    verdicts = s.cleared + s.not_cleared
    if verdicts and s.cleared / verdicts < t.trust_min_cleared:
        return (f"stay at {s.level}: the alert cleared after {s.cleared} of {verdicts} "
                f"actions (below {t.trust_min_cleared:.0%})")
    return f"ready for {nxt}"


def _started(incident: str) -> datetime | None:
    m = _STARTED.search(incident)
    return parse_stamp(m.group(1) + "000000") if m else None


def report(store: ObjectStore, *, since: datetime | None, thresholds: TrustThresholds,
           ) -> list[Scope]:
    """The scopes of every incident that started at or after `since`, by namespace and
    workload."""
    scopes: dict[tuple[str, str], Scope] = {}
    for incident in audit.incident_keys(store):
        started = _started(incident)
        if since is not None and started is not None and started < since:
            continue
        records = ordered(audit.read(store, incident))
        if not records or any(_d(r.data).get("test") for r in records):
            continue  # test alerts (`orchestrator trigger --test`) prove nothing
        alert = next((_d(_d(r.data).get("alert")) for r in records
                      if _d(_d(r.data).get("alert"))), {})
        namespace = str(_d(alert.get("labels")).get("namespace") or "(cluster)")
        workload = _workload(records)
        scope = scopes.setdefault((namespace, workload), Scope(namespace, workload))
        _add(scope, records)
    out = sorted(scopes.values(), key=lambda s: (s.namespace, s.workload))
    for s in out:
        s.recommendation = recommend(s, thresholds)
    return out


def namespaces(scopes: list[Scope], thresholds: TrustThresholds) -> list[Scope]:
    """One scope per namespace (workload `*`), summing its workloads; its level is the lowest
    of theirs (a namespace is as far along as its least proven workload)."""
    merged: dict[str, Scope] = {}
    for s in scopes:
        m = merged.get(s.namespace)
        if m is None:
            m = merged[s.namespace] = Scope(s.namespace, "*", level=s.level)
        m.incidents += s.incidents
        for name in ("would_do", "did", "refusals", "escalations"):
            getattr(m, name).update(getattr(s, name))
        for name in ("approved", "rejected", "cleared", "healthy", "not_cleared"):
            setattr(m, name, getattr(m, name) + getattr(s, name))
        m.level = min(m.level, s.level, key=LEVELS.index)
    out = sorted(merged.values(), key=lambda s: s.namespace)
    for m in out:
        m.recommendation = recommend(m, thresholds)
    return out
