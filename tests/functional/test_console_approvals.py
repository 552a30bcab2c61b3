"""Approvals through the HTTP API: the signed decision the executor accepts, double clicks,
conflicts, who may decide (a personal token's person on the allowlist; never the service token,
never a name in the body), expiry, cancellation by a resolved alert, and a broker that was
down."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.act.approval import check_decision
from orchestrator.act.policy import Policy
from orchestrator.envelope import decode
from orchestrator.events import PLAN_APPROVED, PLAN_REJECTED, PlanApproved, PlanRejected
from orchestrator.ids import event_id
from tests import keys
from tests.functional.console_support import (
    ALICE,
    APPROVER,
    AUTH,
    MALLORY,
    MALLORY_TOKEN,
    Story,
    awaiting,
    deliver,
)


@pytest.fixture
def client(console_for: Callable[..., Any]) -> Any:
    return console_for()


def approve(client: Any, plan_id: str, approver: str | None = None, verb: str = "approve",
            headers: dict[str, str] = ALICE) -> Any:
    body = {"comment": "go"} if approver is None else {"approver": approver, "comment": "go"}
    return client.post(f"/api/approvals/{plan_id}/{verb}", json=body, headers=headers)


def test_approval_is_signed_so_the_executor_accepts_it(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story, context=True)
    pending = client.get("/api/approvals", headers=AUTH).get_json()["approvals"]
    assert [p["plan_id"] for p in pending] == [story.plan.plan_id]
    r = approve(client, story.plan.plan_id)
    assert r.status_code == 202, r.data
    (got,) = sink.wait_for(1)
    h = {k.lower(): v for k, v in got.headers.items()}
    assert h["ce-type"] == PLAN_APPROVED and h["ce-source"] == "/orchestrator/console"
    assert h["ce-incidentkey"] == story.key and h["ce-partitionkey"] == "payments/Deployment/checkout"
    assert h["ce-id"] == r.get_json()["event_id"]
    decision = PlanApproved.model_validate(got.json())
    assert decision.plan == story.plan and decision.approver == APPROVER
    assert decision.comment == "go"
    # The event itself is signed by the console, as the executor will check at its door.
    event = decode({k.lower(): v for k, v in got.headers.items()}, got.body)
    assert keys.keyring().check(event, now=datetime.now(UTC)) == "console"
    verdict = check_decision(decision, outcome="approved", keyring=keys.keyring(),
                             policy=Policy(approvers=[APPROVER]),
                             ttl=timedelta(minutes=15), skew=timedelta(seconds=60),
                             now=datetime.now(UTC))
    assert verdict.status == "ok", verdict.why
    # The decision comes back from the broker into the log: the incident is now acting.
    deliver(client, _as_outgoing(got))
    summary = client.get(f"/api/incidents/{story.key}", headers=AUTH).get_json()["summary"]
    assert summary["status"] == "acting"
    assert client.get("/api/approvals", headers=AUTH).get_json()["approvals"] == []


def _as_outgoing(got: Any) -> Any:
    from orchestrator.envelope import Outgoing

    h = {k.lower(): v for k, v in got.headers.items()}
    model = PlanApproved if h["ce-type"] == PLAN_APPROVED else PlanRejected
    return Outgoing(type=h["ce-type"], id=h["ce-id"], function="console",
                    incident_key=h["ce-incidentkey"], data=model.model_validate(got.json()),
                    partition_key=h.get("ce-partitionkey"))


def test_double_click_approves_once_and_the_opposite_is_refused(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story, context=True)
    first, second = approve(client, story.plan.plan_id), approve(client, story.plan.plan_id)
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.get_json()["repeated"] is True
    a, b = sink.wait_for(2)
    assert a.body == b.body and a.headers["ce-id"] == b.headers["ce-id"]
    reject = approve(client, story.plan.plan_id, verb="reject")
    assert reject.status_code == 409 and b"already approved" in reject.data
    assert len(sink.received) == 2


def test_rejection_is_signed_too(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story, context=True)
    r = approve(client, story.plan.plan_id, verb="reject")
    assert r.status_code == 202
    (got,) = sink.wait_for(1)
    assert got.headers["ce-type"] == PLAN_REJECTED
    decision = PlanRejected.model_validate(got.json())
    verdict = check_decision(decision, outcome="rejected", keyring=keys.keyring(),
                             policy=Policy(),
                             ttl=timedelta(minutes=15), skew=timedelta(seconds=60),
                             now=datetime.now(UTC))
    assert verdict.status == "ok"


def test_the_id_is_per_request_so_a_second_ask_is_a_new_decision(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    first_at = datetime.now(UTC) - timedelta(minutes=3)
    awaiting(client, story, context=True, requested_at=first_at)
    one = approve(client, story.plan.plan_id).get_json()["event_id"]
    assert one == event_id(story.key, "console",
                           f"{story.plan.plan_id}|approved|{first_at.isoformat()}")
    deliver(client, _as_outgoing(sink.wait_for(1)[0]))
    # The executor found the approval stale and asked again for the same plan.
    deliver(client, story.approval_requested(requested_at=datetime.now(UTC)))
    two = approve(client, story.plan.plan_id)
    assert two.status_code == 202 and two.get_json()["event_id"] != one


def test_unlisted_approver_and_bad_tokens_are_refused(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story, context=True)
    mallory = {"Authorization": f"Bearer {MALLORY_TOKEN}"}
    r = approve(client, story.plan.plan_id, headers=mallory)
    assert r.status_code == 403 and b"allowlist" in r.data
    assert approve(client, story.plan.plan_id, headers={}).status_code == 401
    wrong = approve(client, story.plan.plan_id, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    assert approve(client, "no-such-plan").status_code == 404
    assert sink.received == []


def test_expired_request_cannot_be_approved(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story, context=True, requested_at=datetime.now(UTC) - timedelta(minutes=20))
    r = approve(client, story.plan.plan_id)
    assert r.status_code == 409 and b"expired" in r.data
    assert sink.received == []


def test_resolved_alert_cancels_the_pending_approval(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story, context=True)
    deliver(client, story.resolved())
    r = approve(client, story.plan.plan_id)
    assert r.status_code == 409 and b"resolved" in r.data
    assert sink.received == []


def test_broker_down_then_retry_sends_the_same_decision(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story, context=True)
    sink.respond_with(503)
    failed = approve(client, story.plan.plan_id)
    assert failed.status_code == 502
    retried = approve(client, story.plan.plan_id)
    assert retried.status_code == 202
    (got,) = sink.wait_for(1)
    assert got.headers["ce-id"] == retried.get_json()["event_id"]


def test_a_spoofed_approver_in_the_body_is_refused(client, sink) -> None:  # type: ignore[no-untyped-def]
    """Mallory holds a token of her own; naming Alice (who is on the allowlist) gets her nothing,
    in any spelling, and the body cannot make Alice's token decide as someone else either."""
    story = Story()
    awaiting(client, story, context=True)
    mallory = {"Authorization": f"Bearer {MALLORY_TOKEN}"}
    for name in (APPROVER, APPROVER.upper(), f" {APPROVER} "):
        r = approve(client, story.plan.plan_id, approver=name, headers=mallory)
        assert r.status_code == 403 and b"another name" in r.data, name
    r = approve(client, story.plan.plan_id, approver=MALLORY)
    assert r.status_code == 403 and b"authenticated as 'alice@example.com'" in r.data
    assert sink.received == []
    # Naming yourself is allowed (old scripts send it) and changes nothing.
    assert approve(client, story.plan.plan_id, approver=APPROVER).status_code == 202


def test_the_service_token_cannot_decide(client, sink) -> None:  # type: ignore[no-untyped-def]
    """The sweep's token reads the API but is nobody: naming an approver does not help."""
    story = Story()
    awaiting(client, story, context=True)
    assert client.get("/api/approvals", headers=AUTH).status_code == 200
    for verb in ("approve", "reject"):
        for name in (APPROVER, None):
            r = approve(client, story.plan.plan_id, approver=name, verb=verb, headers=AUTH)
            assert r.status_code == 403 and b"service token" in r.data, (verb, name)
    assert sink.received == []


def test_a_personal_token_decides_as_its_person_only(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    awaiting(client, story, context=True)
    r = approve(client, story.plan.plan_id)
    assert r.status_code == 202 and r.get_json()["approver"] == APPROVER
    (got,) = sink.wait_for(1)
    assert PlanApproved.model_validate(got.json()).approver == APPROVER


def test_a_broken_token_file_keeps_deliveries_for_later(console_for) -> None:  # type: ignore[no-untyped-def]
    """A malformed personal-token file is the operator's to fix: every request, the broker's
    deliveries included, gets a 503 (retried), never a 4xx (dropped), and the error names no
    token."""
    secret = "a-personal-token-that-must-not-leak"
    broken = console_for(CONSOLE_APPROVER_TOKENS=f'{{"{secret}": ""}}')
    r = deliver(broken, Story().alert_received())
    assert r.status_code == 503 and b"CONSOLE_APPROVER_TOKENS" in r.data
    assert secret.encode() not in r.data
    assert broken.get("/api/approvals", headers=ALICE).status_code == 503
