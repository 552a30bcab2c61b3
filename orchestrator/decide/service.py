"""Agent (Decide). PLACEHOLDER until the agent issue lands: every context is escalated with
reason `no-runbook`, a well-formed event of the right type.
"""

from __future__ import annotations

from orchestrator.envelope import Event, Outgoing
from orchestrator.errors import PermanentError
from orchestrator.events import CONTEXT_ENRICHED, ESCALATED, ContextEnriched, Escalated
from orchestrator.keys import event_id

STAGE = "agent"


def handle_event(event: Event) -> Outgoing | None:
    if event.type != CONTEXT_ENRICHED:
        raise PermanentError(f"agent does not handle {event.type!r}")
    ctx = event.parse(ContextEnriched)
    key = ctx.incident_key
    return Outgoing(ESCALATED, event_id(key, STAGE, event.id), STAGE, key,
                    Escalated(incident_key=key, stage=STAGE, reason="no-runbook",
                              detail="placeholder agent: planning not implemented",
                              alert=ctx.alert))
