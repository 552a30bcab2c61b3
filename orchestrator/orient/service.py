"""Router (Orient + verify). PLACEHOLDER until the router issue lands: it passes each alert along
with an empty context (no cluster read), and answers resolved alerts with `incident.resolved`.
"""

from __future__ import annotations

from orchestrator.context import ClusterContext
from orchestrator.envelope import Event, Outgoing
from orchestrator.errors import PermanentError
from orchestrator.events import (
    ACTION_COMPLETED,
    ACTION_FAILED,
    ALERT_RECEIVED,
    CONTEXT_ENRICHED,
    ESCALATED,
    RESOLVED,
    ActionCompleted,
    ActionFailed,
    AlertReceived,
    ContextEnriched,
    Escalated,
    Resolved,
)
from orchestrator.keys import event_id

STAGE = "router"


def handle_event(event: Event) -> Outgoing | None:
    if event.type == ALERT_RECEIVED:
        received = event.parse(AlertReceived)
        key = received.incident_key
        if received.alert.status == "resolved":
            return Outgoing(RESOLVED, event_id(key, STAGE, event.id), STAGE, key,
                            Resolved(incident_key=key, how="alert-resolved",
                                     alert=received.alert),
                            partition_key=received.alert.fingerprint)
        return Outgoing(CONTEXT_ENRICHED, event_id(key, STAGE, event.id), STAGE, key,
                        ContextEnriched(incident_key=key, alert=received.alert,
                                        context=ClusterContext(), test=received.test),
                        partition_key=received.alert.fingerprint)
    if event.type in (ACTION_COMPLETED, ACTION_FAILED):
        done: ActionCompleted | ActionFailed = (
            event.parse(ActionCompleted) if event.type == ACTION_COMPLETED
            else event.parse(ActionFailed)
        )
        key = done.incident_key
        return Outgoing(ESCALATED, event_id(key, STAGE, event.id), STAGE, key,
                        Escalated(incident_key=key, stage=STAGE, reason="verification-failed",
                                  detail="placeholder router: verification not implemented",
                                  alert=done.alert, plan_id=done.plan_id))
    raise PermanentError(f"router does not handle {event.type!r}")
