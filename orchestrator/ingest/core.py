"""Ingest: webhooks and manual triggers in, one `incident.alert.received` per alert out.

Stateless. Every alert accepted is POSTed to the broker before the caller hears 2xx; if the broker
is unreachable the caller gets a 5xx and retries (Alertmanager does), and the retried alerts get
the same event ids, so nothing is duplicated downstream and nothing is dropped.

Secrets in an alert (labels, annotations, generator and source URLs) are redacted here, at the
edge, before the alert reaches the broker: the broker's log (a Kafka topic kept for days), the
audit log, the prompt, the page and every subscriber only ever see `[REDACTED:<kind>]`. Labels
keep what identifies (alertname, namespace, pod, cluster, a Secret's *name*): only secret shapes
in them and values under secret-looking names (`db_password`) go.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from orchestrator.adapters.broker import Publisher
from orchestrator.auth import bearer_from_header, check_token
from orchestrator.envelope import Outgoing, decode, to_binary
from orchestrator.errors import AuthError, PermanentError
from orchestrator.events import ALERT_RECEIVED, Alert, AlertReceived
from orchestrator.ids import event_id, incident_key
from orchestrator.ingest.alertmanager import parse_webhook
from orchestrator.ingest.manual import EXPECTED, data_token, manual_alert
from orchestrator.limits import check_depth

log = logging.getLogger(__name__)
STAGE = "ingest"


@dataclass(frozen=True)
class Auth:
    """The token to expect, or `disabled` (an explicit setting, never a default)."""

    token: str | None
    disabled: bool = False

    def check(self, presented: str | None) -> None:
        if not self.disabled:
            check_token(presented, self.token)


def alert_event(
    alert: Alert, *, receiver: str = "", group_key: str = "", manual: bool = False,
    test: bool = False,
) -> Outgoing:
    """The `incident.alert.received` for one alert; its id depends only on the alert itself."""
    alert = scrubbed(alert)
    key = incident_key(alert.fingerprint, alert.starts_at, alert.cluster)
    input_id = f"{alert.fingerprint}|{alert.status}|{alert.starts_at.isoformat()}"
    return Outgoing(
        type=ALERT_RECEIVED,
        id=event_id(key, STAGE, input_id),
        function=STAGE,
        incident_key=key,
        partition_key=alert.fingerprint,
        data=AlertReceived(
            incident_key=key, alert=alert, receiver=receiver, group_key=group_key,
            manual=manual, test=test,
        ),
    )


def scrubbed(alert: Alert) -> Alert:
    """The alert with secrets redacted from its labels, annotations and URLs (counted, never
    logged). The fingerprint was taken from the labels as they came, so the incident key and
    every event id stay those of the alert Alertmanager sent."""
    from orchestrator.redact import redact, redact_labels, redact_mapping

    kinds: list[str] = []
    labels = redact_labels(alert.labels, lambda _key, found: kinds.extend(found))
    annotations = redact_mapping(alert.annotations, lambda _key, found: kinds.extend(found))
    generator_url, in_url = redact(alert.generator_url)
    source, in_source = redact(alert.source)
    count = len(kinds) + in_url + in_source
    if not count:
        return alert
    log.warning("redacted %d secret(s) from the labels and free text of alert %s (fingerprint "
                "%s)", count, alert.name, alert.fingerprint)
    return alert.model_copy(update={"labels": labels, "annotations": annotations,
                                    "generator_url": generator_url, "source": source})


def accept_webhook(
    *, body: bytes, authorization: str | None, auth: Auth, publisher: Publisher,
    max_alerts: int = 1000,
) -> tuple[int, dict[str, Any]]:
    """Handle one Alertmanager webhook POST; returns the status and a JSON-able summary.

    The token is checked before the body is looked at, and the body's depth before it is parsed.
    """
    auth.check(bearer_from_header(authorization))
    check_depth(body)
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise PermanentError(f"body is not JSON: {e}") from e
    alerts = doc.get("alerts") if isinstance(doc, dict) else None
    if isinstance(alerts, list) and len(alerts) > max_alerts:
        raise PermanentError(f"{len(alerts)} alerts in one webhook; at most {max_alerts} are "
                             "taken (Alertmanager's max_alerts caps a group)", status=413)
    hook = parse_webhook(doc)
    if not hook.alerts:
        rejected = [{"index": r.index, "error": r.error} for r in hook.rejected]
        detail = "; ".join(f"alert {r.index}: {r.error}" for r in hook.rejected[:5])
        raise PermanentError(f"no valid alert in the webhook: {detail or 'alerts is empty'}"
                             if rejected else "webhook has no alerts")
    keys = []
    for alert in hook.alerts:
        out = alert_event(alert, receiver=hook.receiver, group_key=hook.group_key)
        headers, payload = to_binary(out)
        publisher.publish(headers, payload)
        keys.append(out.incident_key)
        log.info("accepted %s alert %s as incident %s", alert.status, alert.name,
                 out.incident_key)
    summary: dict[str, Any] = {"accepted": len(keys), "incidents": keys}
    if hook.truncated:
        # Alertmanager dropped these before sending (max_alerts): say so where people look.
        log.warning("Alertmanager left %d alerts of group %s out of the webhook (max_alerts)",
                    hook.truncated, (hook.group_key or "?")[:120])
        summary["truncated"] = hook.truncated
    if hook.rejected:
        summary["rejected"] = [{"index": r.index, "error": r.error} for r in hook.rejected]
        return 207, summary
    return 200, summary


def accept_manual(
    *, headers: dict[str, str], body: bytes, auth: Auth, publisher: Publisher
) -> tuple[int, dict[str, Any]]:
    """Handle one manual-trigger CloudEvent (binary or structured mode).

    A bearer header is checked before the body is decoded; a token carried in the data (what
    `kn func invoke` can send) is checked before anything else of the data is validated.
    """
    header_token = bearer_from_header(headers.get("authorization"))
    if header_token is not None:
        auth.check(header_token)
    event = decode(headers, body)
    if header_token is None:
        try:
            auth.check(data_token(event.data))
        except AuthError as e:
            raise AuthError(f"{e}: {EXPECTED}") from None
    alert, _, test = manual_alert(event)
    out = alert_event(alert, manual=True, test=test)
    out = Outgoing(
        type=out.type, id=event_id(out.incident_key, STAGE, event.id), function=STAGE,
        incident_key=out.incident_key, partition_key=out.partition_key, data=out.data,
    )
    h, payload = to_binary(out)
    publisher.publish(h, payload)
    log.info("accepted manual trigger %s as incident %s", alert.name, out.incident_key)
    return 200, {"accepted": 1, "incidents": [out.incident_key], "event_id": out.id}

