"""One LLM call per alert fingerprint, however many deliveries race for it.

At-least-once delivery (and Kafka's redelivery) hands the agent the same alert several times,
often at once, before the first plan has reached the audit log where reuse would find it. The
first delivery takes a create-only claim in the audit store for this fingerprint and reopen
window and asks the model; the others wait (bounded) for its plan to be recorded and reuse it,
or plan offline. No second call, nothing lost: every delivery still answers with a plan or an
escalation.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from orchestrator.adapters.objects import ObjectStore
from orchestrator.errors import TransientError

log = logging.getLogger(__name__)

PREFIX = "llm-claims"


def claim_key(fingerprint: str, now: datetime, window: timedelta) -> str:
    """The claim of one fingerprint for the reopen-window bucket `now` falls in."""
    bucket = int(now.timestamp() // max(window.total_seconds(), 1.0))
    return f"{PREFIX}/{fingerprint}/{bucket}.json"


def take(store: ObjectStore, *, fingerprint: str, plan_id: str, now: datetime,
         window: timedelta) -> bool:
    """True when this delivery took the claim and may call the LLM. A redelivery of the input
    that took it waits like any other and then finds its own plan in the audit log."""
    key = claim_key(fingerprint, now, window)
    body = json.dumps({"plan_id": plan_id, "at": now.isoformat()}).encode()
    try:
        return store.put(key, body, if_absent=True)
    except TransientError as e:
        # Without the audit store there is no coordination; one call too many beats no plan.
        log.warning("LLM claim unavailable (%s): asking the model anyway", e)
        return True


def wait_for(found: Callable[[], object | None], *, seconds: float,
             every: float = 0.2) -> object | None:
    """Poll `found` until it returns something or `seconds` pass (the winner's plan)."""
    deadline = time.monotonic() + seconds
    while True:
        result = found()
        if result is not None or time.monotonic() >= deadline:
            return result
        time.sleep(every)
