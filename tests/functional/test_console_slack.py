"""Slack: interactivity verified before anything else (valid, tampered, stale, replayed,
unlisted user), the message replaced through response_url, and hostile text kept inert."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.console import slack
from orchestrator.events import PLAN_APPROVED, PLAN_REJECTED
from tests.fakes.slack import FakeSlack, interaction, sign
from tests.functional.console_support import (
    APPROVER,
    SLACK_SECRET,
    SLACK_USER,
    Story,
    awaiting,
    console_app,
    console_env,
)

HOSTILE = {
    "summary": "<!channel> checkout down <script>alert(1)</script> & more @here <@U999>",
    "description": "see <https://evil.example/login|the runbook> or ping <@U999> @here",
}



@pytest.fixture
def client(console_for: Callable[..., Any], chat: FakeSlack) -> Any:
    return console_for(CONSOLE_SLACK_WEBHOOK_URL=chat.webhook,
                       CONSOLE_SLACK_RESPONSE_URL_PREFIX=chat.url + "/actions/")


def click(client: Any, chat: FakeSlack, story: Story, *, user: str = SLACK_USER,
          action: str = "approve", ts: int | None = None, tamper: bool = False,
          headers: dict[str, str] | None = None) -> Any:
    body = interaction(plan_id=story.plan.plan_id, user=user, action=action,
                       response_url=chat.response_url)
    signed = headers or sign(SLACK_SECRET, body, ts)
    if tamper:
        body = body.replace(b"approve", b"reject")
    return client.post("/slack/interactivity", data=body, headers=signed)


def test_valid_click_approves_and_replaces_the_message(client, sink, chat) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story)
    r = click(client, chat, story)
    assert (r.status_code, r.data) == (200, b"")
    (got,) = sink.wait_for(1)
    assert got.headers["ce-type"] == PLAN_APPROVED
    # Slack vouches for the user id; the console's mapping says who that is.
    assert got.json()["approver"] == APPROVER
    (reply,) = chat.wait_for("/actions/")
    assert reply.body["replace_original"] is True
    assert "approved at " in json.dumps(reply.body) and " by <@U024BE7LH>" in json.dumps(reply.body)
    assert "actions" not in [b["type"] for b in reply.body["blocks"]]


def test_reject_click(client, sink, chat) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story)
    assert click(client, chat, story, action="reject").status_code == 200
    assert sink.wait_for(1)[0].headers["ce-type"] == PLAN_REJECTED


def test_tampered_stale_and_unsigned_requests_do_nothing(client, sink, chat) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story)
    assert click(client, chat, story, tamper=True).status_code == 401
    assert click(client, chat, story, ts=int(time.time()) - 301).status_code == 401
    assert click(client, chat, story, ts=int(time.time()) + 301).status_code == 401
    body = interaction(plan_id=story.plan.plan_id, user=SLACK_USER)
    assert client.post("/slack/interactivity", data=body).status_code == 401
    wrong = sign("not-the-secret", body)
    assert client.post("/slack/interactivity", data=body, headers=wrong).status_code == 401
    assert sink.received == [] and chat.to("/actions/") == []


def test_replayed_request_is_refused(client, sink, chat) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story)
    body = interaction(plan_id=story.plan.plan_id, user=SLACK_USER, action="reject",
                       response_url=chat.response_url)
    headers = sign(SLACK_SECRET, body)
    assert client.post("/slack/interactivity", data=body, headers=headers).status_code == 200
    again = client.post("/slack/interactivity", data=body, headers=headers)
    assert again.status_code == 401 and b"replayed" in again.data
    assert len(sink.received) == 1


def test_unmapped_slack_user_is_told_and_nothing_is_sent(client, sink, chat) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story)
    assert click(client, chat, story, user="U0MALLORY").status_code == 200
    (reply,) = chat.wait_for("/actions/")
    assert reply.body["response_type"] == "ephemeral" and "not mapped" in reply.body["text"]
    assert sink.received == []


def test_a_slack_user_mapped_to_someone_off_the_allowlist_cannot_decide(  # type: ignore[no-untyped-def]
        client, sink, chat, tmp_path, monkeypatch) -> None:
    console_env(monkeypatch, tmp_path / "audit2", sink.url,
                CONSOLE_SLACK_RESPONSE_URL_PREFIX=chat.url + "/actions/",
                CONSOLE_SLACK_APPROVERS=f"{SLACK_USER}=mallory@example.com")
    other = console_app().test_client()
    story = Story()
    awaiting(other, story)
    assert click(other, chat, story).status_code == 200
    (reply,) = chat.wait_for("/actions/")
    assert "allowlist" in reply.body["text"] and sink.received == []


def test_a_slack_id_on_the_allowlist_is_not_an_identity(  # type: ignore[no-untyped-def]
        client, sink, chat, tmp_path, monkeypatch) -> None:
    """Listing `slack:U…` as an approver used to be how Slack users approved; without a mapping
    to a person the click decides nothing."""
    console_env(monkeypatch, tmp_path / "audit2", sink.url,
                CONSOLE_SLACK_RESPONSE_URL_PREFIX=chat.url + "/actions/",
                CONSOLE_APPROVERS=f"{APPROVER}, slack:{SLACK_USER}", CONSOLE_SLACK_APPROVERS="")
    other = console_app().test_client()
    story = Story()
    awaiting(other, story)
    assert click(other, chat, story).status_code == 200
    (reply,) = chat.wait_for("/actions/")
    assert "not mapped" in reply.body["text"] and sink.received == []


def test_response_url_outside_slack_is_not_called(client, sink, chat, tmp_path,  # type: ignore[no-untyped-def]
                                                  monkeypatch) -> None:
    console_env(monkeypatch, tmp_path / "audit2", sink.url, CONSOLE_SLACK_WEBHOOK_URL=chat.webhook)
    other = console_app().test_client()
    story = Story()
    awaiting(other, story)
    assert click(other, chat, story).status_code == 200
    sink.wait_for(1)
    assert chat.to("/actions/") == []


def test_hostile_alert_text_is_inert_in_slack(client, chat) -> None:  # type: ignore[no-untyped-def]
    story = Story(annotations=HOSTILE)
    awaiting(client, story)
    (posted,) = chat.wait_for("/services/")
    text = json.dumps(posted.body)
    assert "<!channel>" not in text and "<https://evil" not in text and "<@U999>" not in text
    assert "<script>" not in text
    assert "&lt;!channel&gt;" in text and "&lt;script&gt;" in text and "@\\u200bhere" in text
    assert posted.body["unfurl_links"] is False
    buttons = [b for b in posted.body["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("approve", story.plan.plan_id), ("reject", story.plan.plan_id)]


def test_escape_rules() -> None:
    assert slack.escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert slack.escape("<!here> @channel @Everyone") == \
        "&lt;!here&gt; @\u200bchannel @\u200bEveryone"
    assert slack.escape("x" * 5000).endswith("…")
