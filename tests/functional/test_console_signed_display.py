"""What a human sees is only what the executor signed: the approval section renders the signed
request's actions, parameters, dry runs, why and expiry (never the latest `plan.proposed`), and a
request whose executor signature does not verify is flagged and cannot be approved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.context import ObjectRef
from orchestrator.events import PlanProposed
from orchestrator.plan import Action
from tests.fakes.slack import FakeSlack
from tests.functional.console_support import (
    ALICE,
    APPROVER,
    AUTH,
    Story,
    deliver,
)


@pytest.fixture
def client(console_for: Callable[..., Any], chat: FakeSlack) -> Any:
    return console_for(CONSOLE_SLACK_WEBHOOK_URL=chat.webhook, CONSOLE_WEBHOOK_URL=chat.generic)


def unverifiable(client: Any, story: Story) -> None:
    """An open request whose inner executor signature does not verify (its hop signature
    does: the executor sent it, but what it shows is not what the executor signed)."""
    request = story.approval_requested()
    unsigned = request.data.model_copy(update={"signature": "hmac-sha256:" + "0" * 64})
    for out in (story.alert_received(), story.plan_proposed(),
                story._out(request.type, unsigned, "approval-old", request.partition_key)):
        assert deliver(client, out).status_code == 202


def approval_section(client: Any, story: Story) -> str:
    html = client.get(f"/incidents/{story.key}", headers=AUTH).get_data(as_text=True)
    start = html.find('id="approval"')
    assert start >= 0, "no approval section"
    return html[start:html.find("</section>", start)]


def test_the_approval_shows_the_signed_request_not_the_latest_plan(client: Any) -> None:
    story = Story()
    for out in (story.alert_received(), story.plan_proposed(), story.approval_requested()):
        assert deliver(client, out).status_code == 202
    # Another proposal (signed by the agent, so recorded; dated before the request, so the
    # request stays open) names another action: the page used to render it as "the plan".
    pod = ObjectRef(kind="Pod", namespace="payments", name="checkout-7d9f8b6c5-x2k4q")
    other = story.plan.model_copy(update={"plan_id": "later-plan", "actions": [
        Action(type="delete_pod", target=pod, reason="delete it")]})
    later = story._out("incident.plan.proposed", PlanProposed(
        incident_key=story.key, alert=story.alert, plan=other), "plan-2")
    assert deliver(client, later, datetime.now(UTC) - timedelta(seconds=30)).status_code == 202

    shown = approval_section(client, story)
    assert "<code>rollback</code>" in shown and "payments/Deployment/checkout" in shown
    assert "rolled back (server dry run)" in shown  # the signed dry run
    assert "rollback is not auto-approved" in shown  # the signed why
    assert "delete_pod" not in shown


def test_an_unverifiable_request_is_flagged_and_cannot_be_approved(client: Any) -> None:
    """A request recorded with no valid executor signature inside (one from before the keys
    changed, say) is named as such; there is no form, and the API refuses a decision."""
    story = Story()
    request = story.approval_requested()
    unsigned = request.data.model_copy(update={"signature": "hmac-sha256:" + "0" * 64})
    for out in (story.alert_received(), story.plan_proposed(),
                story._out(request.type, unsigned, "approval-old", request.partition_key)):
        assert deliver(client, out).status_code == 202

    shown = approval_section(client, story)
    assert "cannot be approved" in shown and 'name="decision"' not in shown
    assert "rollback" not in shown
    # Alice may approve (her personal token), but not this request.
    r = client.post(f"/api/approvals/{story.plan.plan_id}/approve",
                    json={"approver": APPROVER}, headers=ALICE)
    assert r.status_code == 409 and b"executor signature" in r.data


def test_the_api_lists_an_unverifiable_request_flagged_without_its_content(client: Any) -> None:
    story = Story()
    unverifiable(client, story)
    r = client.get("/api/approvals", headers=AUTH)
    assert r.status_code == 200
    (listed,) = r.get_json()["approvals"]
    assert listed["plan_id"] == story.plan.plan_id
    assert (listed["verified"], listed["approvable"]) == (False, False)
    assert "cannot be approved" in listed["unverified"]
    # Nothing of what it shows is vouched for, so nothing of it is listed.
    assert not {"actions", "dry_runs", "why", "target", "expires_at"} & set(listed)
    assert "rollback" not in r.get_data(as_text=True)


def test_the_api_lists_the_signed_request_not_the_latest_plan(client: Any) -> None:
    story = Story()
    for out in (story.alert_received(), story.plan_proposed(), story.approval_requested()):
        assert deliver(client, out).status_code == 202
    pod = ObjectRef(kind="Pod", namespace="payments", name="checkout-7d9f8b6c5-x2k4q")
    other = story.plan.model_copy(update={"plan_id": "later-plan", "actions": [
        Action(type="delete_pod", target=pod, reason="delete it")]})
    later = story._out("incident.plan.proposed", PlanProposed(
        incident_key=story.key, alert=story.alert, plan=other), "plan-2")
    assert deliver(client, later, datetime.now(UTC) - timedelta(seconds=30)).status_code == 202
    r = client.get("/api/approvals", headers=AUTH)
    (listed,) = r.get_json()["approvals"]
    assert (listed["verified"], listed["approvable"]) == (True, True)
    assert listed["target"] == "payments/Deployment/checkout"
    assert [(a["type"], a["target"]) for a in listed["actions"]] == [
        ("rollback", "payments/Deployment/checkout")]
    assert listed["dry_runs"][0]["outcome"] and "rollback is not auto-approved" in listed["why"]
    assert "delete_pod" not in r.get_data(as_text=True)


def test_slack_gets_nothing_approvable_for_an_unverifiable_request(client: Any,
                                                                   chat: FakeSlack) -> None:
    story = Story()
    unverifiable(client, story)
    (post,) = chat.to("/services/")
    text = str(post.body)
    assert "without a valid executor signature" in text and story.plan.plan_id in text
    assert "actions" not in [b["type"] for b in post.body["blocks"]]  # no buttons
    assert "rollback" not in text and "Hypothesis" not in text  # nothing unsigned shown
    assert chat.to("/generic/") == []  # the webhook (a pager) hears of approvable ones only


def test_slack_offers_the_buttons_for_a_signed_request(client: Any, chat: FakeSlack) -> None:
    story = Story()
    for out in (story.alert_received(), story.plan_proposed(), story.approval_requested()):
        assert deliver(client, out).status_code == 202
    (post,) = chat.to("/services/")
    assert "actions" in [b["type"] for b in post.body["blocks"]]
    assert "rollback" in str(post.body)
    assert len(chat.to("/generic/")) == 1
