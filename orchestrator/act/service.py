"""Executor (Act). PLACEHOLDER until the executor issue lands: it acts on nothing and escalates
every plan with reason `policy`.
"""

from __future__ import annotations

from orchestrator.envelope import Event, Outgoing
from orchestrator.errors import PermanentError
from orchestrator.events import (
    ESCALATED,
    PLAN_APPROVED,
    PLAN_PROPOSED,
    PLAN_REJECTED,
    Escalated,
    PlanApproved,
    PlanProposed,
    PlanRejected,
)
from orchestrator.keys import event_id

STAGE = "executor"


def handle_event(event: Event) -> Outgoing | None:
    body: PlanProposed | PlanApproved | PlanRejected
    if event.type == PLAN_PROPOSED:
        body = event.parse(PlanProposed)
    elif event.type == PLAN_APPROVED:
        body = event.parse(PlanApproved)
    elif event.type == PLAN_REJECTED:
        body = event.parse(PlanRejected)
    else:
        raise PermanentError(f"executor does not handle {event.type!r}")
    key = body.incident_key
    return Outgoing(ESCALATED, event_id(key, STAGE, event.id), STAGE, key,
                    Escalated(incident_key=key, stage=STAGE, reason="policy",
                              detail="placeholder executor: no action is ever taken",
                              alert=body.alert, plan_id=body.plan.plan_id))
