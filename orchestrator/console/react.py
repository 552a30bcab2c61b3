"""What the console does with each event besides logging it: register plans, notify humans,
cancel an approval whose alert resolved, and edit the Slack message once a decision is in.

Runs on every delivery, first or repeated: side effects are made once by their own markers, so a
delivery retried after a failed notification completes it, and a duplicate does nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from orchestrator import events
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.console import approvals, notify
from orchestrator.console.audit import Record
from orchestrator.console.status import Summary, ordered
from orchestrator.events import (
    ALERT_RECEIVED,
    APPROVAL_REQUESTED,
    ESCALATED,
    PLAN_APPROVED,
    PLAN_PROPOSED,
    PLAN_REJECTED,
    RESOLVED,
    Escalated,
)
from orchestrator.models import Frozen

if TYPE_CHECKING:  # the approval payloads load with their first use (cold start)
    from orchestrator.events import ApprovalRequested

log = logging.getLogger(__name__)


def _parse(model: type[Frozen], record: Record) -> Any:
    try:
        return model.model_validate(record.data)
    except ValidationError as e:
        log.warning("%s %s has invalid data, no notification: %s", record.type, record.id,
                    e.errors()[0]["msg"])
        return None


def react(*, store: ObjectStore, notifier: notify.Notifier, record: Record, summary: Summary,
          records: list[Record], ttl: timedelta, now: datetime) -> None:
    data = record.data if isinstance(record.data, dict) else {}
    plan = data.get("plan") if isinstance(data.get("plan"), dict) else None
    if record.type in (PLAN_PROPOSED, APPROVAL_REQUESTED) and plan and plan.get("plan_id"):
        approvals.register_plan(store, str(plan["plan_id"]), record.incidentkey)
    if record.type == APPROVAL_REQUESTED:
        req = _parse(events.ApprovalRequested, record)
        if req is None:
            return
        current = summary.approval is not None and summary.approval.event_id == record.id
        if current and now <= approvals.expires_at(req, ttl):
            notify.approval_requested(notifier, store, record.id, req)
        elif summary.status == "resolved":
            log.info("approval request %s arrived after its alert resolved: not asked",
                     record.id)
    elif record.type == ESCALATED:
        esc = _parse(Escalated, record)
        if esc is not None:
            notify.escalated(notifier, store, record.id, esc)
    elif record.type in (PLAN_APPROVED, PLAN_REJECTED):
        _decided(store, notifier, record, records)
    if summary.status == "resolved" and record.type in (RESOLVED, ALERT_RECEIVED):
        _cancel(store, notifier, records)


def open_request(records: list[Record]) -> tuple[Record, ApprovalRequested] | None:
    """The latest approval request nobody answered and nothing closed (expiry, escalation)."""
    latest: tuple[Record, ApprovalRequested] | None = None
    for r in ordered(records):
        if r.type == APPROVAL_REQUESTED:
            req = _parse(events.ApprovalRequested, r)
            latest = (r, req) if req is not None else latest
        elif latest is not None and r.type in (PLAN_APPROVED, PLAN_REJECTED):
            if isinstance(r.data, dict) and (r.data.get("plan") or {}).get("plan_id") == \
                    latest[1].plan.plan_id:
                latest = None
        elif latest is not None and r.type == ESCALATED:
            latest = None
    return latest


def _cancel(store: ObjectStore, notifier: notify.Notifier, records: list[Record]) -> None:
    found = open_request([r for r in records if r.type not in (RESOLVED, ALERT_RECEIVED)])
    if found is None:
        return
    _, req = found
    log.info("alert resolved: approval of plan %s cancelled", req.plan.plan_id)
    notify.approval_closed(notifier, store, req, "cancelled: the alert resolved",
                           kind="cancelled")


def _decided(store: ObjectStore, notifier: notify.Notifier, record: Record,
             records: list[Record]) -> None:
    data = record.data if isinstance(record.data, dict) else {}
    plan_id = (data.get("plan") or {}).get("plan_id")
    request = None
    for r in ordered(records):
        if r.type == APPROVAL_REQUESTED and isinstance(r.data, dict) and \
                (r.data.get("plan") or {}).get("plan_id") == plan_id and \
                r.data.get("requested_at") == data.get("requested_at"):
            request = _parse(events.ApprovalRequested, r)
    if request is None:
        return
    verdict = "approved" if record.type == PLAN_APPROVED else "rejected"
    notify.approval_closed(notifier, store, request,
                           f"{verdict} by {data.get('approver')} at {data.get('decided_at')}",
                           kind="decided")
