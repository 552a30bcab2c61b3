"""Alertmanager webhook v4 → alerts, through the models of `orchestrator.ingest.inputs`.

Group-level errors refuse the whole webhook (400); an alert that does not validate is reported
by its index and does not sink the rest (207).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.errors import PermanentError
from orchestrator.events import Alert
from orchestrator.ids import label_fingerprint
from orchestrator.ingest.inputs import AlertIn, WebhookIn, validated
from orchestrator.validation import kind

_FINGERPRINT = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class Rejected:
    index: int
    error: str


@dataclass(frozen=True)
class Webhook:
    """What ingest takes from a webhook: its group, its valid alerts, and what it left out."""

    receiver: str
    group_key: str
    alerts: list[Alert]
    rejected: list[Rejected]
    truncated: int = 0
    """Alerts Alertmanager left out of this group (its `max_alerts`): never delivered at all."""


def parse_webhook(doc: Any) -> Webhook:
    """Validate a decoded webhook body; group-level errors raise, alert-level errors are listed."""
    if not isinstance(doc, dict):
        raise PermanentError(f"webhook body must be a JSON object, got {kind(doc)}")
    if doc.get("version") != "4":
        raise PermanentError(f"unsupported webhook version {doc.get('version')!r}: expected \"4\"")
    hook = validated(WebhookIn, doc, "webhook")
    alerts: list[Alert] = []
    rejected: list[Rejected] = []
    for i, raw in enumerate(hook.alerts):
        try:
            alerts.append(parse_alert(raw, source=hook.externalURL))
        except PermanentError as e:
            rejected.append(Rejected(i, str(e)))
    return Webhook(receiver=hook.receiver, group_key=hook.groupKey, alerts=alerts,
                   rejected=rejected, truncated=hook.truncatedAlerts)


def parse_alert(raw: Any, *, source: str) -> Alert:
    """One alert of the `alerts` list (PermanentError naming the field when it does not
    validate)."""
    return to_alert(validated(AlertIn, raw, "alert"), source=source)


def to_alert(raw: AlertIn, *, source: str, starts_at_default: datetime | None = None) -> Alert:
    """The event model's alert from a validated one: what the schema alone cannot say (an
    alertname, a start, a fingerprint of the right shape, else one from the labels)."""
    if not raw.labels.get("alertname"):
        raise PermanentError("alert has no 'alertname' label")
    starts_at = raw.startsAt or starts_at_default
    if starts_at is None:
        raise PermanentError("alert has no startsAt")
    fingerprint = raw.fingerprint or label_fingerprint(raw.labels)
    if not _FINGERPRINT.fullmatch(fingerprint):
        raise PermanentError(
            "fingerprint must be 1-64 letters, digits, '.', '_', ':' or '-' (Alertmanager "
            "sends 16 hex digits)"
        )
    return Alert(status=raw.status, labels=raw.labels, annotations=raw.annotations,
                 starts_at=starts_at, ends_at=raw.endsAt, generator_url=raw.generatorURL,
                 fingerprint=fingerprint, source=source)
