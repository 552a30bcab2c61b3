"""The agent's LLM cost controls through its real app, the real google-genai client and the fake
Gemini: one call per alert fingerprint however many deliveries race (the claim in the audit
store), and the token budgets per incident and per hour (the ledger in the audit store), each
visible on the plan and ending in the offline plan or a `budget` escalation when spent."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.decide.claim import Claim
from orchestrator.decide.token_budget import Ledger
from orchestrator.events import ContextEnriched
from orchestrator.plan import Plan
from tests import incidents as inc
from tests.fakes.gemini import FakeGemini, Reply, Request
from tests.fakes.s3 import s3_server
from tests.functional.agent_support import (
    AgentClient,
    agent_app,
    record_plan,
)
from tests.functional.test_agent_gemini import DELETE_POD, answer, escalation_of, plan_of

KEY = "AIzaSy-budget-test-key"


@pytest.fixture
def env(fake: FakeGemini) -> dict[str, str]:
    return {"AGENT_GEMINI_API_KEY": KEY, "AGENT_BASE_URL": fake.url,
            "AGENT_BACKOFF_SECONDS": "0.01", "AGENT_TIMEOUT_SECONDS": "5",
            "AGENT_MAX_OUTPUT_TOKENS": "1000"}


def refired(fingerprint: str | None = None, minutes_ago: int = 1) -> ContextEnriched:
    """The recorded alert firing again (a new incident); another alert with `fingerprint`."""
    update: dict[str, object] = {"starts_at": inc.NOW - timedelta(minutes=minutes_ago)}
    if fingerprint:
        update["fingerprint"] = fingerprint
    return inc.crashloop(alert=inc.recorded_alert().model_copy(update=update))


# --- token budgets ------------------------------------------------------------------------


def test_incident_budget_spent_before_the_first_call_gives_the_offline_plan(
        monkeypatch: pytest.MonkeyPatch, qdrant: Path, tmp_path: Path, fake: FakeGemini,
        env: dict[str, str]) -> None:
    with agent_app(monkeypatch, qdrant=qdrant, audit=tmp_path / "audit",
                   env={**env, "AGENT_TOKEN_BUDGET": "2000"}) as agent:
        plan = plan_of(agent.send(inc.crashloop()))
    assert fake.generate_requests() == []
    assert plan.offline and [a.type for a in plan.actions] == ["delete_pod"]
    assert "LLM token budget per incident exhausted: 0 of 2000 tokens" in plan.hypothesis
    assert plan.budget is not None
    assert (plan.budget.exhausted, plan.budget.incident_limit, plan.budget.incident_spent) == \
        ("incident", 2000, 0)


def test_incident_budget_counts_the_incidents_earlier_plans(
        monkeypatch: pytest.MonkeyPatch, qdrant: Path, tmp_path: Path, fake: FakeGemini,
        env: dict[str, str]) -> None:
    audit = tmp_path / "audit"
    env = {**env, "AGENT_REOPEN_WINDOW_SECONDS": "0"}  # no reuse: only the budget reads records
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit, env=env) as agent:
        fake.script(answer(DELETE_POD))
        first = agent.send(inc.crashloop()).proposed()
        assert first.plan.budget is not None and first.plan.budget.exhausted is None
        assert first.plan.budget.incident_spent == first.plan.tokens_in + first.plan.tokens_out
        costly = first.model_copy(update={"plan": first.plan.model_copy(
            update={"tokens_in": 45_000})})
        record_plan(LocalDirStore(audit), costly, event_id="e1")
        plan = plan_of(agent.send(inc.crashloop(), event_id="router-event-2"))
    assert len(fake.generate_requests()) == 1
    assert plan.offline and plan.budget is not None and plan.budget.exhausted == "incident"
    spent = 45_000 + first.plan.tokens_out
    assert f"per incident exhausted: {spent} of 50000 tokens spent" in plan.hypothesis


@pytest.mark.parametrize("which", ["incident", "hour"])
def test_a_spent_budget_with_no_offline_plan_escalates_saying_which(
        monkeypatch: pytest.MonkeyPatch, qdrant: Path, tmp_path: Path, fake: FakeGemini,
        env: dict[str, str], which: str) -> None:
    limit = {"incident": "AGENT_TOKEN_BUDGET", "hour": "AGENT_TOKEN_BUDGET_PER_HOUR"}[which]
    with agent_app(monkeypatch, qdrant=qdrant, audit=tmp_path / "audit",
                   env={**env, limit: "1500"}) as agent:
        esc = escalation_of(agent.send(inc.crashloop(last_reason="OOMKilled")))
    assert fake.generate_requests() == []
    assert esc.reason == "budget"
    assert esc.detail.startswith(f"LLM token budget per {which} exhausted: 0 of 1500 tokens")
    assert "No offline plan applies either: runbook" in esc.detail


def test_hourly_budget_counts_every_incident_across_agent_restarts(
        monkeypatch: pytest.MonkeyPatch, qdrant: Path, tmp_path: Path, fake: FakeGemini,
        env: dict[str, str]) -> None:
    audit = tmp_path / "audit"
    fake.responder = lambda req: answer(DELETE_POD)
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit, env=env) as agent:
        first = plan_of(agent.send(refired("f1f1f1f1f1f1f1f1")))
    spent = first.tokens_in + first.tokens_out
    assert first.budget is not None and first.budget.hour_spent == spent
    assert first.budget.hour_limit == 500_000  # the default
    # A new agent process (stateless): the ledger in the audit store still holds the call.
    tight = str(spent + spent // 2)  # the next call needs about as much again: over the limit
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit,
                   env={**env, "AGENT_TOKEN_BUDGET_PER_HOUR": tight}) as agent:
        other = plan_of(agent.send(refired("f2f2f2f2f2f2f2f2")))
    assert len(fake.generate_requests()) == 1
    assert other.offline and other.budget is not None
    assert (other.budget.exhausted, other.budget.hour_spent, other.budget.hour_limit) == \
        ("hour", spent, int(tight))
    assert f"LLM token budget per hour exhausted: {spent} of {tight} tokens" in other.hypothesis
    roomy = str(3 * spent + 5000)
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit,
                   env={**env, "AGENT_TOKEN_BUDGET_PER_HOUR": roomy}) as agent:
        third = plan_of(agent.send(refired("f3f3f3f3f3f3f3f3")))
    assert not third.offline and third.budget is not None
    assert third.budget.hour_spent == spent + third.tokens_in + third.tokens_out


def test_hourly_ledger_is_a_sliding_hour_and_settled_calls_count_their_cost(
        tmp_path: Path) -> None:
    ledger = Ledger(LocalDirStore(tmp_path))
    now = datetime(2026, 11, 27, 10, 20, tzinfo=UTC)
    ledger.record("aaaa", "spent", 7000, now=now - timedelta(minutes=61), about={})
    ledger.record("bbbb", "reserved", 9000, now=now - timedelta(minutes=59), about={})
    ledger.record("bbbb", "spent", 4000, now=now - timedelta(minutes=58), about={})
    ledger.record("cccc", "reserved", 9000, now=now - timedelta(minutes=1), about={})  # running
    ledger.record("dddd", "reserved", 9000, now=now - timedelta(minutes=62), about={})
    ledger.record("dddd", "spent", 300, now=now - timedelta(minutes=30), about={})
    assert ledger.spent(now) == 4000 + 9000 + 300


# --- one LLM call per fingerprint ----------------------------------------------------------


def _concurrently(agent: AgentClient, sends: list[tuple[ContextEnriched, str]]) -> list[Plan]:
    results: list[Plan | None] = [None] * len(sends)

    def one(i: int, ev: ContextEnriched, event_id: str) -> None:
        client = AgentClient(agent.client.application.test_client())
        results[i] = plan_of(client.send(ev, event_id=event_id))

    threads = [threading.Thread(target=one, args=(i, ev, eid))
               for i, (ev, eid) in enumerate(sends)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(r, Plan) for r in results), results
    return [r for r in results if r is not None]


@pytest.mark.parametrize("store", ["dir", "s3"])
def test_racing_deliveries_make_one_llm_call(monkeypatch: pytest.MonkeyPatch, qdrant: Path,
                                             tmp_path: Path, fake: FakeGemini,
                                             env: dict[str, str], store: str) -> None:
    go = threading.Event()

    def slow_model(req: Request) -> Reply:
        go.wait(30)  # the model thinks until every delivery has arrived
        return answer(DELETE_POD)

    fake.responder = slow_model
    with s3_server() if store == "s3" else nullcontext() as s3:
        audit: Path | None = tmp_path / "audit"
        if s3 is not None:
            audit = None
            env = {**env, "AGENT_AUDIT_ENDPOINT": s3.endpoint,
                   "AGENT_AUDIT_ACCESS_KEY": s3.access_key,
                   "AGENT_AUDIT_SECRET_KEY": s3.secret_key}
        with agent_app(monkeypatch, qdrant=qdrant, audit=audit, env=env) as agent:
            # Four copies of one input (redelivery), two other incidents of the same alert.
            sends = [(inc.crashloop(), "router-event-1")] * 4 + [
                (refired(minutes_ago=2), "router-event-2"), (refired(), "router-event-3")]
            waiter = threading.Thread(target=lambda: (fake.wait_for(1, 30), go.set()))
            waiter.start()
            plans = _concurrently(agent, sends)
            waiter.join(30)
    assert len(fake.generate_requests()) == 1
    # Whichever delivery won the race asked the model; every other one followed its plan.
    (held,) = {p.plan_id: p for p in plans if p.reused_from is None}.values()
    assert not held.offline and held.model == "gemini-2.5-flash"
    assert all(p.reused_from in (None, held.plan_id) for p in plans)
    assert all(p.actions == held.actions for p in plans)
    # A redelivered input gets the same plan id; each incident its own.
    assert len({p.plan_id for p in plans[:4]}) == 1
    assert len({p.plan_id for p in plans}) == 3


def test_followers_get_the_holders_escalation_without_a_call(
        monkeypatch: pytest.MonkeyPatch, qdrant: Path, tmp_path: Path, fake: FakeGemini,
        env: dict[str, str]) -> None:
    fake.script(answer())  # the model sees nothing to do
    with agent_app(monkeypatch, qdrant=qdrant, audit=tmp_path / "audit", env=env) as agent:
        first = escalation_of(agent.send(inc.crashloop()))
        again = escalation_of(agent.send(inc.crashloop()))
        other = escalation_of(agent.send(refired(), event_id="router-event-9"))
    assert len(fake.generate_requests()) == 1
    assert first.reason == again.reason == other.reason == "no-applicable-action"
    assert again.detail == first.detail
    assert "with the same alert fingerprint (one LLM call per fingerprint" in other.detail
    assert first.incident_key in other.detail


def _claim(audit: Path, *, deadline: datetime) -> None:
    """A claim as another agent took it, with no outcome (still asking, or died asking)."""
    fp = inc.recorded_alert().fingerprint
    now = datetime.now(UTC)
    claim = Claim(generation=0, holder="elsewhere", plan_id="p-other", incident_key="k-other",
                  claimed_at=now - timedelta(seconds=5), deadline=deadline)
    LocalDirStore(audit).put(f"llm-claims/{fp}/00000000.json", claim.model_dump_json().encode(),
                             if_absent=True)


def test_a_claim_whose_holder_died_is_taken_over(monkeypatch: pytest.MonkeyPatch, qdrant: Path,
                                                 tmp_path: Path, fake: FakeGemini,
                                                 env: dict[str, str]) -> None:
    audit = tmp_path / "audit"
    _claim(audit, deadline=datetime.now(UTC) - timedelta(seconds=1))
    fake.script(answer(DELETE_POD))
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit, env=env) as agent:
        plan = plan_of(agent.send(inc.crashloop()))
    assert not plan.offline and len(fake.generate_requests()) == 1
    fp = inc.recorded_alert().fingerprint
    assert (audit / f"llm-claims/{fp}/00000001-outcome.json").exists()


def test_a_follower_that_waited_long_enough_plans_offline(
        monkeypatch: pytest.MonkeyPatch, qdrant: Path, tmp_path: Path, fake: FakeGemini,
        env: dict[str, str]) -> None:
    audit = tmp_path / "audit"
    _claim(audit, deadline=datetime.now(UTC) + timedelta(minutes=3))
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit,
                   env={**env, "AGENT_CLAIM_WAIT_SECONDS": "0.3"}) as agent:
        plan = plan_of(agent.send(inc.crashloop()))
    assert fake.generate_requests() == []
    assert plan.offline and "another delivery of this alert fingerprint" in plan.hypothesis


def test_without_its_audit_store_the_agent_does_not_call_the_llm(
        monkeypatch: pytest.MonkeyPatch, qdrant: Path, fake: FakeGemini,
        env: dict[str, str]) -> None:
    env = {**env, "AGENT_AUDIT_ENDPOINT": "127.0.0.1:9",  # discard port: nothing listens
           "AGENT_AUDIT_ACCESS_KEY": "k", "AGENT_AUDIT_SECRET_KEY": "s"}
    with agent_app(monkeypatch, qdrant=qdrant, audit=None, env=env) as agent:
        plan = plan_of(agent.send(inc.crashloop()))
    assert fake.generate_requests() == []
    assert plan.offline and "audit store is unavailable" in plan.hypothesis
