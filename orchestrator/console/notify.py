"""Reaching a human: approval requests and escalations to Slack and/or a generic JSON webhook.

Slack is reached through an incoming webhook, or through the bot (chat.postMessage) when a bot
token and channel are set, which lets the console edit the message later: an approval that is
answered, cancelled by a resolved alert, or expired loses its buttons. The generic webhook gets
the console's own JSON document (with a `text` line chat bridges such as Teams show) or a
PagerDuty Events v2 event, so escalations reach someone without Slack.

Each notification is sent once per event and channel (a create-only marker after success), and a
failure is a TransientError: the broker retries the delivery, then dead-letters it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.adapters.chat import Chat
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.console import slack
from orchestrator.events import Escalated
from orchestrator.provenance import Keyring
from orchestrator.signing import request_payload, verify

if TYPE_CHECKING:
    from orchestrator.events import ApprovalRequested

log = logging.getLogger(__name__)

NOTIFIED = "notified"
MESSAGES = "slack-messages"
_SEVERITY = {"critical": "critical", "page": "critical", "error": "error", "high": "error",
             "warning": "warning", "warn": "warning", "info": "info", "none": "info"}


@dataclass(frozen=True)
class Notifier:
    chat: Chat | None
    slack_webhook: str | None = None
    slack_channel: str | None = None
    """Set (with a bot token in `chat`) to post through chat.postMessage instead."""
    webhook: str | None = None
    webhook_format: Literal["json", "pagerduty"] = "json"
    routing_key: str | None = None
    console_url: str = ""
    keyring: Keyring = Keyring({})
    """The executor's public keys: an approval request is re-checked against them before
    anything approvable is posted (none here means none is trusted)."""

    def link(self, incident: str) -> str:
        return f"{self.console_url}/incidents/{incident}" if self.console_url else ""


def _once(store: ObjectStore, event_id: str, channel: str, send: Callable[[], None]) -> None:
    marker = f"{NOTIFIED}/{event_id}/{channel}"
    if store.get(marker) is not None:
        return
    send()
    store.put(marker, b"", content_type="text/plain", if_absent=True)


def approval_requested(n: Notifier, store: ObjectStore, event_id: str,
                       req: ApprovalRequested) -> None:
    if n.chat is None:
        return
    chat = n.chat
    # Re-checked here, not trusted from the caller: a message with buttons is an offer to
    # approve, and what it shows must be what the executor signed (the page's rule).
    signed = verify(n.keyring, "executor", request_payload(req), req.signature)
    if not signed:
        log.warning("approval request for plan %s has no valid executor signature: "
                    "nothing approvable posted", req.plan.plan_id)
    message = (slack.approval_message(req, console_url=n.console_url) if signed
               else slack.unverified_message(req, console_url=n.console_url))
    if n.slack_channel:
        def post() -> None:
            channel, ts = chat.post_message(n.slack_channel or "", message)
            store.put(f"{MESSAGES}/{req.plan.plan_id}.json",
                      json.dumps({"channel": channel, "ts": ts}).encode())
        _once(store, event_id, "slack", post)
    elif n.slack_webhook:
        _once(store, event_id, "slack", lambda: chat.post_webhook(n.slack_webhook or "", message))
    if n.webhook and signed:  # the webhook (a pager, maybe) hears only of approvable requests
        doc = _document("approval.requested", req.incident_key, req.alert, n,
                        text=f"Approval needed: {req.alert.name} — {req.plan.hypothesis}",
                        extra=_plan(req))
        _once(store, event_id, "webhook", lambda: _send(n, doc, "trigger"))


def escalated(n: Notifier, store: ObjectStore, event_id: str, esc: Escalated) -> None:
    if n.chat is None:
        return
    chat = n.chat
    message = slack.escalation_message(esc, console_url=n.console_url)
    if n.slack_channel:
        def post() -> None:
            chat.post_message(n.slack_channel or "", message)
        _once(store, event_id, "slack", post)
    elif n.slack_webhook:
        _once(store, event_id, "slack", lambda: chat.post_webhook(n.slack_webhook or "", message))
    if n.webhook:
        name = esc.alert.name if esc.alert is not None else esc.incident_key
        doc = _document("escalated", esc.incident_key, esc.alert, n,
                        text=f"Escalated ({esc.reason}): {name} — {esc.detail}",
                        extra={"reason": esc.reason, "stage": esc.stage, "detail": esc.detail,
                               "plan_id": esc.plan_id})
        _once(store, event_id, "webhook", lambda: _send(n, doc, "trigger"))


def approval_closed(n: Notifier, store: ObjectStore, req: ApprovalRequested, verdict: str, *,
                    kind: Literal["decided", "cancelled", "expired"]) -> None:
    """Tell the humans an approval is no longer open: edit the Slack message when the bot posted
    it, otherwise post a follow-up; and tell the generic webhook."""
    if n.chat is None:
        return
    chat = n.chat
    marker_id = f"{req.plan.plan_id}-{req.requested_at.strftime('%Y%m%dT%H%M%S%f')}-{kind}"
    message = slack.outcome_message(req, verdict)
    ref = store.get(f"{MESSAGES}/{req.plan.plan_id}.json")
    if n.slack_channel and ref is not None:
        where = json.loads(ref)
        _once(store, marker_id, "slack",
              lambda: chat.update_message(where["channel"], where["ts"], message))
    elif n.slack_webhook and kind != "decided":
        # A webhook cannot edit; the Slack path of a decision already replaced the message.
        _once(store, marker_id, "slack", lambda: chat.post_webhook(n.slack_webhook or "", message))
    if n.webhook and kind != "decided":
        doc = _document(f"approval.{kind}", req.incident_key, req.alert, n,
                        text=f"{req.alert.name}: {verdict}",
                        extra={"plan_id": req.plan.plan_id, "verdict": verdict})
        action: Literal["trigger", "resolve"] = "resolve" if kind == "cancelled" else "trigger"
        _once(store, marker_id, "webhook", lambda: _send(n, doc, action))


def _plan(req: ApprovalRequested) -> dict[str, Any]:
    return {"plan_id": req.plan.plan_id, "hypothesis": req.plan.hypothesis,
            "confidence": req.plan.confidence, "expires_at": req.expires_at.isoformat(),
            "actions": [{"type": r.action.type, "target": r.action.target.key,
                         "dry_run": r.outcome} for r in req.dry_runs],
            "citations": [{"runbook": c.runbook, "heading": c.heading} for c in req.plan.citations]}


def _plain(text: str, limit: int = 1000) -> str:
    # Chat bridges render markup in `text` (Teams: markdown and some HTML): no angle brackets.
    s = text.replace("<", "‹").replace(">", "›")
    return s if len(s) <= limit else s[:limit] + "…"


def _document(event: str, incident: str, alert: Any, n: Notifier, *, text: str,
              extra: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"event": event, "text": _plain(text), "incident_key": incident,
                           "url": n.link(incident)}
    if alert is not None:
        doc["alert"] = {"name": alert.name, "status": alert.status, "labels": alert.labels,
                        "annotations": alert.annotations,
                        "starts_at": alert.starts_at.isoformat()}
    doc.update(extra)
    return doc


def _send(n: Notifier, doc: dict[str, Any], action: Literal["trigger", "resolve"]) -> None:
    assert n.chat is not None and n.webhook is not None
    if n.webhook_format == "json":
        n.chat.post_webhook(n.webhook, doc)
        return
    labels = (doc.get("alert") or {}).get("labels") or {}
    event: dict[str, Any] = {"routing_key": n.routing_key or "", "event_action": action,
                             "dedup_key": doc["incident_key"]}
    if action == "trigger":
        event["payload"] = {
            "summary": doc["text"][:1024], "source": "incident-orchestrator",
            "severity": _SEVERITY.get(str(labels.get("severity", "")).lower(), "warning"),
            "component": labels.get("namespace") or None, "custom_details": doc,
        }
        if doc["url"]:
            event["links"] = [{"href": doc["url"], "text": "incident in the console"}]
    n.chat.post_webhook(n.webhook, event)
