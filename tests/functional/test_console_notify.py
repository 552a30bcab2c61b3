"""Notifications: approval requests and escalations to Slack and a generic webhook, once each,
retried through the broker when they fail; the bot path edits its message when an approval is
cancelled by a resolved alert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.functional.console_support import Story, deliver


@pytest.fixture
def app(console_for: Callable[..., Any]) -> Callable[..., Any]:
    """A console with a public URL (the links in notifications), and `env`."""
    return lambda **env: console_for(CONSOLE_PUBLIC_URL="https://console.example.com", **env)


def test_approval_request_reaches_slack_and_the_webhook_once(app, chat) -> None:  # type: ignore[no-untyped-def]
    client = app(CONSOLE_SLACK_WEBHOOK_URL=chat.webhook,
                 CONSOLE_WEBHOOK_URL=chat.generic)
    story = Story()
    request = story.approval_requested()
    for out in (story.alert_received(), story.plan_proposed(), request, request):
        assert deliver(client, out).status_code == 202
    (slack_post,) = chat.to("/services/")
    blocks = slack_post.body["blocks"]
    text = str(blocks)
    assert "Hypothesis" in text and "k8s_crashloop" in text and "rolled back (server dry run)" in text
    assert f"https://console.example.com/incidents/{story.key}" in text
    (hook,) = chat.to("/generic/")
    assert hook.body["event"] == "approval.requested"
    assert hook.body["incident_key"] == story.key and hook.body["plan_id"] == story.plan.plan_id
    assert hook.body["text"].startswith("Approval needed: KubePodCrashLooping")
    assert hook.body["actions"] == [{"type": "rollback", "target": "payments/Deployment/checkout",
                                     "dry_run": "dry-run"}]


def test_failed_notification_is_retried_by_the_broker(app, chat) -> None:  # type: ignore[no-untyped-def]
    client = app(CONSOLE_SLACK_WEBHOOK_URL=chat.webhook,
                 CONSOLE_WEBHOOK_URL=chat.generic)
    story = Story()
    deliver(client, story.alert_received())
    chat.fail_next(500)  # Slack is down for the first attempt
    first = deliver(client, story.escalated())
    assert first.status_code == 502  # a 5xx: the broker retries
    assert deliver(client, story.escalated()).status_code == 202
    assert deliver(client, story.escalated()).status_code == 202
    assert len(chat.to("/services/")) == 1 and len(chat.to("/generic/")) == 1
    assert chat.to("/generic/")[0].body["reason"] == "low-confidence"


def test_request_arriving_after_resolution_asks_nobody(app, chat) -> None:  # type: ignore[no-untyped-def]
    client = app(CONSOLE_SLACK_WEBHOOK_URL=chat.webhook)
    story = Story()
    t0 = datetime.now(UTC) - timedelta(minutes=2)
    deliver(client, story.alert_received(), t0)
    deliver(client, story.resolved(), t0 + timedelta(seconds=30))
    deliver(client, story.approval_requested(requested_at=t0 + timedelta(seconds=10)),
            t0 + timedelta(seconds=10))
    assert chat.to("/services/") == []


def test_bot_edits_its_message_when_the_alert_resolves(app, chat) -> None:  # type: ignore[no-untyped-def]
    client = app(CONSOLE_SLACK_BOT_TOKEN="xoxb-test",
                 CONSOLE_SLACK_CHANNEL="C0INCIDENT", CONSOLE_SLACK_API_URL=chat.url + "/api",
                 CONSOLE_WEBHOOK_URL=chat.generic, CONSOLE_WEBHOOK_FORMAT="pagerduty",
                 CONSOLE_WEBHOOK_ROUTING_KEY="R0UTING")
    story = Story()
    for out in (story.alert_received(), story.plan_proposed(), story.approval_requested()):
        deliver(client, out)
    (post,) = chat.to("/api/chat.postMessage")
    assert post.headers["authorization"] == "Bearer xoxb-test"
    assert post.body["channel"] == "C0INCIDENT"
    deliver(client, story.resolved())
    deliver(client, story.resolved())
    (update,) = chat.to("/api/chat.update")
    assert update.body["channel"] == "C0INCIDENT" and update.body["ts"] == "1700000000.000001"
    assert "cancelled: the alert resolved" in str(update.body["blocks"])
    assert not any(b["type"] == "actions" for b in update.body["blocks"])
    trigger, resolve = chat.to("/generic/")
    assert trigger.body["event_action"] == "trigger" and trigger.body["routing_key"] == "R0UTING"
    assert trigger.body["dedup_key"] == story.key
    assert trigger.body["payload"]["severity"] == "critical"
    assert resolve.body["event_action"] == "resolve" and resolve.body["dedup_key"] == story.key
