"""Turning the outcome of a core function into an HTTP response, the same way in every function.

The rules are the broker's: a reply CloudEvent is `200` in binary mode; "no reply" is `202` with
an empty body (never a plain-text "OK", which both Knative brokers treat as a failed delivery);
bad input is a 4xx with a JSON message; a dependency that is down is a 5xx so the broker retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from orchestrator.envelope import Event, Outgoing, to_binary
from orchestrator.errors import OrchestratorError, PermanentError

log = logging.getLogger(__name__)

Response = tuple[bytes, int, dict[str, str]]


def reply(out: Outgoing) -> Response:
    headers, body = to_binary(out)
    return body, 200, headers


def no_reply() -> Response:
    return b"", 202, {}


def json_response(status: int, payload: dict[str, Any]) -> Response:
    return json.dumps(payload).encode(), status, {"content-type": "application/json"}


def error_response(e: OrchestratorError) -> Response:
    if isinstance(e, PermanentError):
        log.warning("rejected: %s", e)
    else:
        log.error("failed, the sender should retry: %s", e)
    headers = {"content-type": "application/json"}
    if e.status == 401:
        headers["www-authenticate"] = 'Bearer realm="incident-orchestrator"'
    return json.dumps({"error": str(e)}).encode(), e.status, headers


def guarded(fn: Callable[[], Response]) -> Response:
    """Run a handler body, mapping our errors onto their HTTP status."""
    try:
        return fn()
    except OrchestratorError as e:
        return error_response(e)


def serve_event(
    headers: dict[str, str], body: bytes, handle: Callable[[Event], Outgoing | None],
    *, function: str = "orchestrator",
) -> Response:
    """Decode one delivered CloudEvent, run the stage on it, and answer as the broker expects.
    `headers` have lowercase names (`cloudevent_http.lower_headers`, where the request entered);
    `function` names the stage's span (`orchestrator.telemetry`)."""
    from orchestrator.envelope import decode
    from orchestrator.logs import correlate
    from orchestrator.telemetry import stage

    try:
        event = decode(headers, body)
    except OrchestratorError as e:
        return error_response(e)
    with correlate(event.id, event.incident_key), stage(function, event=event) as span:
        try:
            out = handle(event)
        except OrchestratorError as e:
            span.failed(e)
            return error_response(e)
        if out is None:
            span.outcome("no reply")
            return no_reply()
        span.outcome(out.type)
        log.info("replying %s %s", out.type, out.id)
        return reply(out)  # inside the span: the reply carries its trace context
