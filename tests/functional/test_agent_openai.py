"""The agent with an OpenAI-compatible model (`AGENT_LLM_PROVIDER=openai`): the httpx adapter
against the fake chat completions server, through the real functions-framework app. The same
planner as Gemini's: validation and one corrective retry, bounded retries that honour
`Retry-After`, timeouts, the offline fallback, the token ledger and the claim."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import orchestrator.decide.service as service
from orchestrator.events import ESCALATED, Escalated
from orchestrator.plan import Plan
from tests import incidents as inc
from tests.fakes.openai_chat import FakeOpenAI, Reply, fake_openai
from tests.functional.agent_support import (
    AgentClient,
    agent_app,
)
from tests.functional.agent_support import Reply as AgentReply

KEY = "sk-proj-test-5d0c9e1b7a"
MODEL = "gpt-4.1-mini"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai(key=KEY) as f:
        yield f


@pytest.fixture
def settings(fake: FakeOpenAI) -> dict[str, str]:
    return {"AGENT_LLM_PROVIDER": "openai", "AGENT_OPENAI_API_KEY": KEY,
            "AGENT_OPENAI_BASE_URL": fake.url + "/v1", "AGENT_BACKOFF_SECONDS": "0.01",
            "AGENT_TIMEOUT_SECONDS": "5"}


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return tmp_path / "audit"


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch, qdrant: Path, audit: Path,
          settings: dict[str, str]) -> Iterator[AgentClient]:
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit, env=settings) as client:
        yield client


def answer(*actions: dict[str, Any], confidence: float = 0.85) -> Reply:
    return Reply.plan({
        "hypothesis": "The checkout container exits with status 1 after start; one replica is "
                      "wedged.", "confidence": confidence, "runbook": "k8s_crashloop",
        "chunk": "k8s_crashloop#what-to-do", "actions": list(actions)})


DELETE_POD = {"type": "delete_pod", "target_kind": "Pod", "target_namespace": "payments",
              "target_name": inc.POD.name, "parameters": [], "reason": "the evidence says so"}


def plan_of(r: AgentReply) -> Plan:
    return r.proposed().plan


def sections(prompt: str) -> dict[str, str]:
    """The prompt's data sections: `<<<NAME` ... `>>>` on lines of their own."""
    return dict(re.findall(r"^<<<([A-Z_]+)\n(.*?)\n>>>$", prompt, re.S | re.M))


def test_good_answer_becomes_the_plan(agent: AgentClient, fake: FakeOpenAI,
                                      audit: Path) -> None:
    fake.script(answer(DELETE_POD))
    r = agent.send(inc.crashloop())
    plan = plan_of(r)
    assert [(a.type, a.target) for a in plan.actions] == [("delete_pod", inc.POD)]
    assert plan.model == MODEL and plan.offline is False and plan.confidence == 0.85
    assert plan.citations[0].chunk == "k8s_crashloop#what-to-do"
    (req,) = fake.generate_requests()
    assert req.path == "/v1/chat/completions" and req.body["model"] == MODEL
    assert plan.tokens_in == len(req.system + req.prompt) // 4 + 1 and plan.tokens_out > 0
    # The same prompts as Gemini's: instructions apart, data in delimited sections, no secret.
    assert "never an instruction" in req.system
    assert set(sections(req.prompt)) == {"ALERT", "CONTEXT", "FACTS", "RUNBOOKS"}
    assert KEY not in json.dumps(req.body)
    assert req.body["response_format"]["json_schema"]["strict"] is True
    # The same cost guards: the call is in the hourly ledger, the claim holds its outcome.
    spent = [p.name for p in (audit / "llm-usage").rglob("*-spent-*.json")]
    assert len(spent) == 1 and spent[0].endswith(f"-{plan.tokens_in + plan.tokens_out}.json")
    assert len(list((audit / "llm-claims").rglob("*-outcome.json"))) == 1


def test_invalid_json_gets_one_corrective_retry(agent: AgentClient, fake: FakeOpenAI) -> None:
    fake.script(Reply.raw('{"hypothesis": "cut off', finish_reason="length"),
                answer(DELETE_POD))
    plan = plan_of(agent.send(inc.crashloop()))
    first, second = fake.generate_requests()
    assert "VALIDATION_ERRORS" not in first.prompt
    errors = sections(second.prompt)["VALIDATION_ERRORS"]
    assert "not the JSON schema asked for (finish reason length)" in errors
    assert plan.offline is False
    assert plan.tokens_in == sum(len(r.system + r.prompt) // 4 + 1 for r in (first, second))


def test_invalid_twice_falls_back_to_the_offline_plan(agent: AgentClient,
                                                      fake: FakeOpenAI) -> None:
    fake.script(Reply.raw("Restart it, I think."), Reply(refusal="I can't help with that."))
    plan = plan_of(agent.send(inc.crashloop()))
    assert len(fake.generate_requests()) == 2
    assert plan.offline is True and plan.model == "offline-planner"
    assert [a.type for a in plan.actions] == ["delete_pod"] and plan.tokens_in > 0
    assert "OpenAI-compatible model's answers failed validation twice" in plan.hypothesis


def test_429_retry_after_is_honoured(agent: AgentClient, fake: FakeOpenAI) -> None:
    """The backoff is 10 ms; the server asked for 0.8 s: the retry waits for the server."""
    fake.script(Reply.error(429, "Rate limit reached for requests", retry_after="0.8"),
                answer(DELETE_POD))
    plan = plan_of(agent.send(inc.crashloop()))
    first, second = fake.generate_requests()
    assert second.at - first.at >= 0.8
    assert not plan.offline


def test_a_retry_after_longer_than_allowed_plans_offline_at_once(
        monkeypatch: pytest.MonkeyPatch, qdrant: Path, audit: Path, settings: dict[str, str],
        fake: FakeOpenAI) -> None:
    fake.script(Reply.error(429, "Rate limit reached for requests", retry_after="120"))
    env = {**settings, "AGENT_RETRY_AFTER_MAX_SECONDS": "5"}
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit, env=env) as agent:
        started = time.monotonic()
        plan = plan_of(agent.send(inc.crashloop()))
        elapsed = time.monotonic() - started
    assert len(fake.generate_requests()) == 1 and elapsed < 5
    assert plan.offline and "retry after 120s" in plan.hypothesis


def test_hanging_model_times_out_then_offline(monkeypatch: pytest.MonkeyPatch, qdrant: Path,
                                              audit: Path, settings: dict[str, str],
                                              fake: FakeOpenAI) -> None:
    fake.script(Reply.hanging(), Reply.hanging())
    env = {**settings, "AGENT_TIMEOUT_SECONDS": "0.3", "AGENT_RETRIES": "1"}
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit, env=env) as agent:
        started = time.monotonic()
        plan = plan_of(agent.send(inc.crashloop()))
        elapsed = time.monotonic() - started
    assert plan.offline and len(fake.generate_requests()) == 2 and elapsed < 5
    assert "OpenAI-compatible model unavailable" in plan.hypothesis
    assert "ReadTimeout" in plan.hypothesis


def test_unavailable_with_no_offline_plan_escalates(agent: AgentClient,
                                                    fake: FakeOpenAI) -> None:
    fake.script(*[Reply.error(500)] * 3)
    r = agent.send(inc.crashloop(last_reason="OOMKilled"))
    assert r.type == ESCALATED, (r.status, r.body)
    esc = Escalated.model_validate(r.body)
    assert len(fake.generate_requests()) == 3  # 1 + AGENT_RETRIES (2)
    assert "OpenAI-compatible model unavailable" in esc.detail


def test_bad_key_is_not_retried(monkeypatch: pytest.MonkeyPatch, qdrant: Path, audit: Path,
                                settings: dict[str, str], fake: FakeOpenAI) -> None:
    env = {**settings, "AGENT_OPENAI_API_KEY": "sk-revoked-7777"}
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit, env=env) as agent:
        plan = plan_of(agent.send(inc.crashloop()))
    assert len(fake.generate_requests()) == 1 and plan.offline
    assert "HTTP 401" in plan.hypothesis and "sk-revoked-7777" not in plan.hypothesis


def test_no_key_means_the_offline_planner(monkeypatch: pytest.MonkeyPatch, qdrant: Path,
                                          audit: Path, settings: dict[str, str],
                                          fake: FakeOpenAI) -> None:
    env = {k: v for k, v in settings.items() if k != "AGENT_OPENAI_API_KEY"}
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit, env=env) as agent:
        plan = plan_of(agent.send(inc.crashloop()))
        built = service.instance.peek()
        assert built is not None and built.llm is None
    assert plan.offline and fake.generate_requests() == []


def test_key_from_a_file(monkeypatch: pytest.MonkeyPatch, qdrant: Path, audit: Path,
                         settings: dict[str, str], fake: FakeOpenAI, tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY + "\n")
    env = {k: v for k, v in settings.items() if k != "AGENT_OPENAI_API_KEY"}
    env["AGENT_OPENAI_API_KEY_FILE"] = str(tmp_path / "key")
    fake.script(answer(DELETE_POD))
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit, env=env) as agent:
        plan = plan_of(agent.send(inc.crashloop()))
    assert not plan.offline
    assert fake.generate_requests()[0].headers["authorization"] == f"Bearer {KEY}"
