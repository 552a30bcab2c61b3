"""Alertmanager webhook v4, read field by field.

Every documented field is checked for type; fields newer Alertmanagers add (`notification_reason`,
`routeLabels`, …) are tolerated. One bad alert is reported by index and does not sink the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.errors import PermanentError
from orchestrator.events import Alert
from orchestrator.keys import label_fingerprint

_GROUP_FIELDS: dict[str, type | tuple[type, ...]] = {
    "receiver": str,
    "status": str,
    "groupLabels": dict,
    "commonLabels": dict,
    "commonAnnotations": dict,
    "externalURL": str,
    "groupKey": str,
    "truncatedAlerts": int,
}
_ZERO_TIME = "0001-01-01T00:00:00Z"
_FINGERPRINT = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class Rejected:
    index: int
    error: str


@dataclass(frozen=True)
class Webhook:
    receiver: str
    group_key: str
    external_url: str
    truncated: int
    alerts: list[Alert]
    rejected: list[Rejected]


def parse_webhook(doc: Any) -> Webhook:
    """Validate a decoded webhook body; group-level errors raise, alert-level errors are listed."""
    if not isinstance(doc, dict):
        raise PermanentError(f"webhook body must be a JSON object, got {_kind(doc)}")
    version = doc.get("version")
    if version != "4":
        raise PermanentError(f"unsupported webhook version {version!r}: expected \"4\"")
    for name, typ in _GROUP_FIELDS.items():
        if name in doc and not isinstance(doc[name], typ):
            raise PermanentError(f"field {name!r} must be {_tname(typ)}, got {_kind(doc[name])}")
    raw_alerts = doc.get("alerts")
    if not isinstance(raw_alerts, list):
        raise PermanentError(f"field 'alerts' must be a list, got {_kind(raw_alerts)}")
    source = str(doc.get("externalURL", ""))
    alerts: list[Alert] = []
    rejected: list[Rejected] = []
    for i, raw in enumerate(raw_alerts):
        try:
            alerts.append(parse_alert(raw, source=source))
        except PermanentError as e:
            rejected.append(Rejected(i, str(e)))
    return Webhook(
        receiver=str(doc.get("receiver", "")),
        group_key=str(doc.get("groupKey", "")),
        external_url=source,
        truncated=int(doc.get("truncatedAlerts", 0)),
        alerts=alerts,
        rejected=rejected,
    )


def parse_alert(raw: Any, *, source: str) -> Alert:
    """One alert of the `alerts` list."""
    if not isinstance(raw, dict):
        raise PermanentError(f"alert must be an object, got {_kind(raw)}")
    status = raw.get("status")
    if status not in ("firing", "resolved"):
        raise PermanentError(f"alert status must be 'firing' or 'resolved', got {status!r}")
    labels = _string_map(raw.get("labels"), "labels")
    if not labels.get("alertname"):
        raise PermanentError("alert has no 'alertname' label")
    annotations = _string_map(raw.get("annotations", {}), "annotations")
    starts_at = _time(raw.get("startsAt"), "startsAt", required=True)
    assert starts_at is not None
    ends_at = _time(raw.get("endsAt"), "endsAt", required=False)
    generator = raw.get("generatorURL", "")
    if not isinstance(generator, str):
        raise PermanentError(f"generatorURL must be a string, got {_kind(generator)}")
    fingerprint = raw.get("fingerprint")
    if fingerprint is None or fingerprint == "":
        fingerprint = label_fingerprint(labels)
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
        raise PermanentError(
            "fingerprint must be 1-64 letters, digits, '.', '_', ':' or '-' (Alertmanager "
            "sends 16 hex digits)"
        )
    return Alert(
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=generator,
        fingerprint=fingerprint,
        source=source,
    )


def _string_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise PermanentError(f"{name} must be an object of strings, got {_kind(value)}")
    for k, v in value.items():
        if not isinstance(v, str):
            raise PermanentError(f"{name}.{k} must be a string, got {_kind(v)}")
    return dict(value)


def _time(value: Any, name: str, *, required: bool) -> datetime | None:
    if value is None or value == "" or value == _ZERO_TIME:
        if required:
            raise PermanentError(f"alert has no {name}")
        return None
    if not isinstance(value, str):
        raise PermanentError(f"{name} must be an RFC 3339 string, got {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(_trim_fraction(value))
    except ValueError as e:
        raise PermanentError(f"{name} is not an RFC 3339 time: {value[:40]!r}") from e
    if parsed.tzinfo is None:
        raise PermanentError(f"{name} has no time zone: {value[:40]!r}")
    if parsed.year <= 1:
        return None if not required else parsed
    return parsed


def _trim_fraction(value: str) -> str:
    """Go prints nanoseconds; Python parses at most microseconds."""
    head, dot, rest = value.partition(".")
    if not dot:
        return value
    digits = ""
    for ch in rest:
        if not ch.isdigit():
            break
        digits += ch
    return f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}" if digits else value


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _tname(typ: type | tuple[type, ...]) -> str:
    return _kind(typ()) if isinstance(typ, type) else "/".join(_kind(t()) for t in typ)
