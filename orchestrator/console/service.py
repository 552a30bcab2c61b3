"""Console. PLACEHOLDER until the console issue lands: it accepts every `incident.` event and
every dead letter, logs it, and answers 202 (never an event, so it cannot loop).
"""

from __future__ import annotations

import logging

from orchestrator.envelope import Event, Outgoing
from orchestrator.errors import PermanentError
from orchestrator.events import TYPE_PREFIX

log = logging.getLogger(__name__)


def handle_event(event: Event) -> Outgoing | None:
    if not event.type.startswith(TYPE_PREFIX):
        raise PermanentError(f"console does not handle {event.type!r}")
    log.info("audit: %s %s", event.type, event.id)
    return None


def handle_deadletter(event: Event) -> Outgoing | None:
    log.warning("dead letter: %s %s code=%s", event.type, event.id,
                event.extensions.get("knativeerrorcode"))
    return None
