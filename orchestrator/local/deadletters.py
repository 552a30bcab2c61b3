"""What a dead letter looks like on the wire, and how hard the broker tries to hand it over.

A dead letter must never vanish: it is recorded in SQLite the moment a delivery gives up, and its
POST to the dead-letter sink (the console's `/deadletter`) is a delivery of its own, retried with
capped backoff for as long as the sink is down. The event carries the extensions Knative adds:

- `knativeerrordest`: the subscriber URL that failed;
- `knativeerrorcode`: the last HTTP status, or "0" when there was none (network error, timeout,
  hop limit). The Kafka broker omits code and data without a response; sending "0" plus the error
  text tells the console why, and keeps the attribute always present;
- `knativeerrordata`: the first 1 KiB of the response body (or the error text), base64-encoded
  as eventing-kafka-broker does (its RecordDispatcher test expects `Base64(errorBody)`); omitted
  when empty, since CloudEvents attribute values may not be empty.
"""

from __future__ import annotations

import base64
import logging

import httpx

from orchestrator.cloudevent_http import binary_headers
from orchestrator.local.queue import Claimed, DeadLetter, Queue
from orchestrator.local.triggers import Delivery
from orchestrator.local.wire import ERROR_DATA_MAX, send

logger = logging.getLogger(__name__)

HOP_LIMIT_REASON = "hop limit reached"
# However long a Trigger's backoff grows, a sink that comes back is tried within half a minute.
SINK_BACKOFF_CAP = 30.0


def sink_headers(dead: DeadLetter, *, namespace: str) -> dict[str, str]:
    """Binary-mode headers for POSTing `dead.event` to the dead-letter sink."""
    attrs = dict(dead.event.attributes)
    attrs["knativeerrordest"] = dead.dest
    attrs["knativeerrorcode"] = str(dead.code or 0)
    if dead.error_data:
        attrs["knativeerrordata"] = base64.b64encode(dead.error_data[:ERROR_DATA_MAX]).decode()
    headers = binary_headers(attrs)
    headers["Kn-Namespace"] = namespace
    return headers


def sink_backoff(delivery: Delivery, attempt: int) -> float:
    """Seconds before POST attempt `attempt + 1` to the sink (retried forever, never dropped)."""
    # Exponents are clamped so a sink down for days cannot overflow the float.
    return min(delivery.backoff(min(attempt, 30)), SINK_BACKOFF_CAP)


def give_up_reason(detail: str, *, attempts: int, retryable: bool) -> str:
    """The human reason stored with a dead letter and shown by the console."""
    if retryable:
        return f"retries exhausted after {attempts} attempt(s): {detail}"
    return f"not retryable: {detail}"


def deliver_to_sink(queue: Queue, client: httpx.Client, claimed: Claimed, *,
                    sink_url: str | None, delivery: Delivery, namespace: str,
                    time_scale: float) -> None:
    """Make one POST attempt of a dead letter to the sink and record what came of it."""
    found = queue.deadletters(claimed.deadletter_id) if claimed.deadletter_id else []
    if not found or sink_url is None:
        # The YAML lost its dead-letter sink since: the deadletters row is the record.
        with queue.tx() as tx:
            tx.finish(claimed.id, state="done", attempts=claimed.attempts, code=None,
                      error="no dead-letter sink")
            for dead in found:
                tx.set_sink_state(dead.id, "none")
        return
    dead = found[0]
    # No `Prefer: reply`, and the answer is not read as a reply: a reply from the sink could loop.
    out = send(client, sink_url, sink_headers(dead, namespace=namespace), dead.event.body,
               timeout=delivery.timeout, max_reply=0)
    attempts = claimed.attempts + 1
    with queue.tx() as tx:
        if out.code is not None and out.code < 300:
            tx.finish(claimed.id, state="done", attempts=attempts, code=out.code, error=None)
            tx.set_sink_state(dead.id, "sent")
        elif out.retryable:
            delay = sink_backoff(delivery, attempts) * time_scale
            tx.reschedule(claimed.id, attempts=attempts, at=tx.now + delay, code=out.code,
                          error=out.detail)
            logger.warning("broker: dead-letter sink failed for dead letter %d (%s); retry in "
                           "%.3fs", dead.id, out.detail, delay)
        else:
            tx.finish(claimed.id, state="dead", attempts=attempts, code=out.code,
                      error=out.detail)
            tx.set_sink_state(dead.id, "rejected")
            logger.error("broker: dead-letter sink rejected dead letter %d (%s); it stays in the "
                         "deadletters table", dead.id, out.detail)
