"""The console's MCP server at `/mcp`, driven by the SDK's own client over streamable HTTP: the
same bearer authentication as the API, reads from the audit log, runbook search and resources,
and decisions through the console's one approval path (signed, allowlisted, expiring)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.act.approval import check_decision
from orchestrator.act.policy import Policy
from orchestrator.events import PLAN_APPROVED, PlanApproved
from tests.fakes.sink import Sink
from tests.functional.console_support import (
    APPROVER,
    CONSOLE_KEY,
    EXECUTOR_KEY,
    TOKEN,
    Story,
    console_app,
    console_env,
    deliver,
    serve,
)
from tests.functional.mcp_support import error_text, http_session, payload, personal_token, run


@pytest.fixture
def console(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    console_env(monkeypatch, tmp_path / "audit", sink.url)
    app = console_app()
    with serve(app) as url:
        yield app.test_client(), url
    __import__("orchestrator.console.service").console.service.reset()


def awaiting(client: Any, story: Story, **kw: Any) -> None:
    for out in (story.alert_received(), story.context_enriched(), story.plan_proposed(),
                story.approval_requested(**kw)):
        assert deliver(client, out).status_code == 202


def test_lists_and_reads_incidents_with_the_api_token(console) -> None:  # type: ignore[no-untyped-def]
    client, url = console
    story, other = Story(), Story(fingerprint="0b1c2d3e4f5a6b7c", namespace="shop")
    awaiting(client, story)
    for out in (other.alert_received(), other.escalated()):
        deliver(client, out)

    async def go() -> tuple[Any, ...]:
        async with http_session(url, TOKEN) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            every = payload(await s.call_tool("list_incidents", {}))
            shop = payload(await s.call_tool("list_incidents", {"namespace": "shop"}))
            waiting = payload(await s.call_tool("list_incidents",
                                                {"status": "awaiting approval"}))
            later = payload(await s.call_tool("list_incidents", {"since": "1m"}))
            one = payload(await s.call_tool("get_incident", {"incident_key": story.key}))
            bad = await s.call_tool("list_incidents", {"status": "sleeping"})
            return names, every, shop, waiting, later, one, bad

    names, every, shop, waiting, later, one, bad = run(go)
    assert names == {"list_incidents", "get_incident", "search_runbooks",
                     "list_pending_approvals", "approve", "reject", "explain_refusal"}
    assert {i["incident_key"] for i in every["incidents"]} == {story.key, other.key}
    assert [i["incident_key"] for i in shop["incidents"]] == [other.key]
    assert [i["incident_key"] for i in waiting["incidents"]] == [story.key]
    assert later["incidents"] == []  # both alerts started five minutes ago
    assert one["summary"]["status"] == "awaiting approval"
    assert [e["type"].rsplit(".", 1)[-1] for e in one["timeline"]] == [
        "received", "enriched", "proposed", "requested"]
    assert one["plan"]["plan_id"] == story.plan.plan_id
    assert one["context"]["pods"][0]["containers"][0]["reason"] == "CrashLoopBackOff"
    assert one["dry_runs"][0]["outcome"] == "dry-run"
    assert one["verdict"]["status"] == "awaiting approval"
    assert "unknown status 'sleeping'" in error_text(bad)


def test_no_token_or_a_wrong_one_is_refused_before_mcp_sees_it(console) -> None:  # type: ignore[no-untyped-def]
    _, url = console
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}
    accept = {"accept": "application/json, text/event-stream"}
    for auth in ({}, {"authorization": "Bearer nope"},
                 {"authorization": f"Bearer {personal_token(APPROVER)[:-3]}abc"}):
        r = httpx.post(f"{url}/mcp", json=init, headers={**accept, **auth}, trust_env=False)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith("Bearer")
    ok = httpx.post(f"{url}/mcp", json=init, trust_env=False,
                    headers={**accept, "authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["result"]["serverInfo"]["name"]


def test_approve_with_a_personal_token_sends_the_signed_decision(console, sink) -> None:  # type: ignore[no-untyped-def]
    client, url = console
    story = Story()
    awaiting(client, story)

    async def go() -> tuple[Any, Any]:
        async with http_session(url, personal_token(APPROVER)) as s:
            pending = payload(await s.call_tool("list_pending_approvals", {}))
            done = payload(await s.call_tool("approve", {"plan_id": story.plan.plan_id,
                                                         "comment": "via assistant"}))
            return pending, done

    pending, done = run(go)
    (req,) = pending["approvals"]
    assert req["plan_id"] == story.plan.plan_id and req["actions"][0]["outcome"] == "dry-run"
    assert "not auto-approved" in req["why_approval"]
    assert done["decision"] == "approved" and done["approver"] == APPROVER
    (got,) = sink.wait_for(1)
    assert got.headers["ce-type"] == PLAN_APPROVED and got.headers["ce-id"] == done["event_id"]
    decision = PlanApproved.model_validate(got.json())
    assert decision.approver == APPROVER and decision.comment == "via assistant"
    verdict = check_decision(decision, outcome="approved", executor_key=EXECUTOR_KEY,
                             console_key=CONSOLE_KEY.encode(), policy=Policy(approvers=[APPROVER]),
                             ttl=timedelta(minutes=15), skew=timedelta(seconds=60),
                             now=datetime.now(UTC))
    assert verdict.status == "ok", verdict.why


def test_deciding_needs_a_token_that_names_an_allowed_person(console, sink) -> None:  # type: ignore[no-untyped-def]
    client, url = console
    story = Story()
    awaiting(client, story)

    async def attempt(token: str) -> Any:
        async with http_session(url, token) as s:
            return await s.call_tool("approve", {"plan_id": story.plan.plan_id})

    shared = error_text(run(lambda: attempt(TOKEN)))
    stranger = error_text(run(lambda: attempt(personal_token("mallory@example.com"))))
    assert "names no person" in shared
    assert "not on the console's approver allowlist" in stranger
    assert sink.received == []


def test_an_expired_request_cannot_be_approved(console, sink) -> None:  # type: ignore[no-untyped-def]
    client, url = console
    story = Story()
    awaiting(client, story, requested_at=datetime.now(UTC) - timedelta(minutes=20))

    async def go() -> tuple[Any, Any]:
        async with http_session(url, personal_token(APPROVER)) as s:
            pending = payload(await s.call_tool("list_pending_approvals", {}))
            return pending, await s.call_tool("reject", {"plan_id": story.plan.plan_id})

    pending, refused = run(go)
    assert pending["approvals"] == []
    assert "expired" in error_text(refused)
    assert sink.received == []


def test_explain_refusal_reads_the_audit_log(console) -> None:  # type: ignore[no-untyped-def]
    client, url = console
    story = Story()
    awaiting(client, story)
    deliver(client, story.escalated(reason="approval-expired", stage="console",
                                    detail="nobody decided within 15 minutes"))

    async def go() -> Any:
        async with http_session(url, TOKEN) as s:
            return payload(await s.call_tool("explain_refusal", {"incident_key": story.key}))

    why = run(go)
    assert why["status"] == "escalated" and why["refused"] is True
    kinds = [(r["kind"], r.get("reason")) for r in why["reasons"]]
    assert kinds == [("approval-required", None), ("escalated", "approval-expired")]
    assert "not auto-approved by policy" in why["reasons"][0]["why"]


def test_runbooks_are_searchable_and_readable_as_resources(console) -> None:  # type: ignore[no-untyped-def]
    _, url = console

    async def go() -> tuple[Any, ...]:
        async with http_session(url, TOKEN) as s:
            found = payload(await s.call_tool("search_runbooks",
                                              {"alertname": "KubePodCrashLooping",
                                               "labels": {"namespace": "shop"}}))
            listed = (await s.list_resources()).resources
            text = await s.read_resource(found["runbooks"][0]["uri"])
            nothing = payload(await s.call_tool("search_runbooks",
                                                {"query": "the coffee machine is empty"}))
            return found, listed, text, nothing

    found, listed, text, nothing = run(go)
    top = found["runbooks"][0]
    assert top["retriever"] == "exact" and top["uri"] == f"runbook://{top['runbook']}"
    assert top["uri"] in {str(r.uri) for r in listed}
    assert "KubePodCrashLooping" in text.contents[0].text
    assert nothing["runbooks"] == []
