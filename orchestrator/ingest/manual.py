"""Manual triggers: a CloudEvent of type `incident.alert.manual`, as `kn func invoke` sends it.

`kn func invoke` cannot set headers, so the data may carry the bearer token itself; the token is
checked and then dropped, never forwarded. The data is `inputs.ManualIn`: an alert typed by
hand, with unknown fields refused by name.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from orchestrator.envelope import Event
from orchestrator.errors import PermanentError
from orchestrator.events import ALERT_MANUAL, Alert
from orchestrator.ingest.alertmanager import to_alert
from orchestrator.ingest.inputs import ManualIn, validated
from orchestrator.times import rfc3339

EXPECTED = (
    f"send a CloudEvent of type {ALERT_MANUAL!r} with JSON data "
    '{"labels": {"alertname": "...", "namespace": "...", ...}, "annotations": {...}, '
    '"status": "firing"|"resolved", "token": "<ingest token, if no Authorization header>"}'
)


def data_token(data: Any) -> str | None:
    """The token a manual trigger carries in its data, looked up without validating the rest
    (authentication comes before validation). None when there is none to be found."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    token = data.get("token") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


def manual_alert(event: Event) -> tuple[Alert, str | None, bool]:
    """The alert a manual trigger describes, the token it carried (if any), and its test flag."""
    if event.type != ALERT_MANUAL:
        raise PermanentError(f"unsupported event type {event.type!r}: {EXPECTED}")
    data: Any = event.data
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as e:
            raise PermanentError(f"data is not JSON: {EXPECTED}") from e
    # No startsAt: the event's time, else now (part of the incident key, so say it to repeat).
    try:
        starts = rfc3339(event.time) if event.time else datetime.now(UTC)
    except ValueError as e:
        raise PermanentError(f"the event's time attribute is not an RFC 3339 time: {e}") from e
    try:
        given = validated(ManualIn, data, "data", within=True)
        alert = to_alert(given, source="manual", starts_at_default=starts)
    except PermanentError as e:
        raise PermanentError(f"{e}: {EXPECTED}") from None
    return alert, given.token, given.test
