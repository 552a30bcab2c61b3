"""Manual triggers: a CloudEvent of type `incident.alert.manual`, as `kn func invoke` sends it.

`kn func invoke` cannot set headers, so the data may carry the bearer token itself; the token is
checked and then dropped, never forwarded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from orchestrator.envelope import Event
from orchestrator.errors import PermanentError
from orchestrator.events import ALERT_MANUAL, Alert
from orchestrator.ingest.alertmanager import parse_alert
from orchestrator.keys import label_fingerprint

EXPECTED = (
    f"send a CloudEvent of type {ALERT_MANUAL!r} with JSON data "
    '{"labels": {"alertname": "...", "namespace": "...", ...}, "annotations": {...}, '
    '"status": "firing"|"resolved", "token": "<ingest token, if no Authorization header>"}'
)
_ALLOWED = {"labels", "annotations", "status", "startsAt", "token", "test", "fingerprint"}


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
    if not isinstance(data, dict):
        raise PermanentError(f"data must be a JSON object: {EXPECTED}")
    unknown = sorted(set(data) - _ALLOWED)
    if unknown:
        raise PermanentError(f"unexpected data fields {unknown}: {EXPECTED}")
    if "labels" not in data:
        raise PermanentError(f"data has no 'labels': {EXPECTED}")
    token = data.get("token")
    if token is not None and not isinstance(token, str):
        raise PermanentError("data.token must be a string")
    test = data.get("test", False)
    if not isinstance(test, bool):
        raise PermanentError("data.test must be a boolean")
    starts = data.get("startsAt") or event.time or datetime.now(UTC).isoformat()
    labels = data["labels"]
    raw = {
        "status": data.get("status", "firing"),
        "labels": labels,
        "annotations": data.get("annotations", {}),
        "startsAt": starts,
        "fingerprint": data.get("fingerprint")
        or (label_fingerprint(labels) if isinstance(labels, dict) else None),
    }
    alert = parse_alert(raw, source="manual")
    return alert, token, test
