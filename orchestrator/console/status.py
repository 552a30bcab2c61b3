"""Where an incident stands, derived from its audit records alone.

Statuses: `open` (observed, being oriented or planned), `awaiting approval`, `acting` (a plan
approved or run, verification pending), `resolved` and `escalated`. Resolution is terminal and
beats everything; otherwise the latest status-bearing event by its `time` decides, so a late
redelivery of an old event cannot move an incident backwards.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict

from orchestrator.console.audit import Record
from orchestrator.events import (
    ALERT_RECEIVED,
    CONTEXT_ENRICHED,
    PLAN_REJECTED,
    RESOLVED,
    ROLES,
    Status,
)
from orchestrator.times import rfc3339_or_none

STATUSES: tuple[str, ...] = get_args(Status)

# Ties in time are broken by how far along the loop a type is.
_ORDER = {t: i for i, t in enumerate(ROLES)}
_TARGET_LABELS = ("pod", "deployment", "statefulset", "daemonset", "job_name", "cronjob",
                  "persistentvolumeclaim", "node", "service", "instance")


class PendingApproval(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    plan_id: str
    requested_at: datetime
    expires_at: datetime
    event_id: str


class Summary(BaseModel):
    """One line of the incident list; also what the sweep and the approval API look at."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    incident_key: str
    status: Status
    alertname: str = ""
    namespace: str | None = None
    target: str = ""
    severity: str = ""
    summary: str = ""
    fingerprint: str = ""
    started_at: datetime | None = None
    updated_at: datetime | None = None
    events: int = 0
    digest: str = ""
    plan_id: str | None = None
    approval: PendingApproval | None = None
    reason: str = ""
    test: bool = False

    @property
    def badge(self) -> tuple[str, str]:
        """(CSS class, label) of the status badge. A dry-run escalation is the loop working as
        configured, waiting for a human to act, not a failure: it gets a badge of its own."""
        if self.status == "escalated" and self.reason == "dry-run":
            return "dry-run", "dry-run: a human must act"
        if self.status == "escalated" and self.reason == "observe":
            return "dry-run", "observe: would-do recorded"
        return self.status.replace(" ", "-"), self.status


def ordered(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r.when, _ORDER.get(r.type, -1)))


def _data(r: Record) -> dict[str, Any]:
    return r.data if isinstance(r.data, dict) else {}


def status_of(records: list[Record]) -> tuple[Status, Record | None]:
    """The status and the record that decided it."""
    latest: Record | None = None
    for r in ordered(records):
        if r.type == RESOLVED or (
            r.type == ALERT_RECEIVED and _data(r).get("alert", {}).get("status") == "resolved"
        ):
            return "resolved", r
        if r.type in ROLES:
            latest = r
    return (ROLES[latest.type].status if latest else "open"), latest


def digest(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]


def summarize(incident: str, records: list[Record], keys: list[str]) -> Summary:
    status, decisive = status_of(records)
    alert: dict[str, Any] = {}
    plan_id = target = reason = ""
    test = False
    for r in ordered(records):
        d = _data(r)
        if isinstance(d.get("alert"), dict) and not alert:
            alert = d["alert"]
        test = test or bool(d.get("test"))
        plan = d.get("plan")
        if isinstance(plan, dict):
            plan_id = str(plan.get("plan_id") or plan_id)
            actions = plan.get("actions") or []
            if actions and isinstance(actions[0], dict):
                t = actions[0].get("target") or {}
                target = "/".join(str(x) for x in (t.get("namespace"), t.get("kind"),
                                                   t.get("name")) if x)
        ctx_target = (d.get("context") or {}).get("target") if r.type == CONTEXT_ENRICHED else None
        if isinstance(ctx_target, dict) and not target:
            target = "/".join(str(x) for x in (ctx_target.get("namespace"),
                                               ctx_target.get("kind"), ctx_target.get("name"))
                              if x)
    labels: dict[str, str] = alert.get("labels") or {}
    annotations: dict[str, str] = alert.get("annotations") or {}
    if not target:
        target = next((f"{k}={labels[k]}" for k in _TARGET_LABELS if labels.get(k)), "")
    if decisive is not None and status in ("escalated", "resolved"):
        d = _data(decisive)
        reason = str(d.get("reason") or d.get("how") or "")
        if decisive.type == PLAN_REJECTED:
            reason = "approval-rejected"
        elif decisive.type == ALERT_RECEIVED:
            reason = "alert-resolved"
    return Summary(
        incident_key=incident, status=status, alertname=labels.get("alertname", ""),
        namespace=labels.get("namespace") or None, target=target,
        severity=labels.get("severity", ""),
        summary=annotations.get("summary") or annotations.get("description") or "",
        fingerprint=str(alert.get("fingerprint") or ""),
        started_at=rfc3339_or_none(alert.get("starts_at"), naive_as_utc=True),
        updated_at=max((r.when for r in records), default=None),
        events=len(records), digest=digest(keys), plan_id=plan_id or None,
        approval=_pending(decisive) if status == "awaiting approval" else None,
        reason=reason, test=test,
    )


def _pending(r: Record | None) -> PendingApproval | None:
    if r is None:
        return None
    d = _data(r)
    requested = rfc3339_or_none(d.get("requested_at"), naive_as_utc=True)
    expires = rfc3339_or_none(d.get("expires_at"), naive_as_utc=True)
    plan = d.get("plan") or {}
    if requested is None or expires is None or not plan.get("plan_id"):
        return None
    return PendingApproval(plan_id=str(plan["plan_id"]), requested_at=requested,
                           expires_at=expires, event_id=r.id)
