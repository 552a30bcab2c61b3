"""One incident is one trace: an alert replayed through the real local stack (broker + five
function processes, the fake Kubernetes API, the fake Gemini with a key so the LLM path runs)
exports, over OTLP/HTTP to a receiver decoding the protobuf requests, spans of all five functions
under the trace id the Alertmanager request started, with the GenAI attributes on the LLM span.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import load_event
from tests.fakes import kube_objects as ko
from tests.fakes.gemini import Reply, Request, fake_gemini
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.otlp import Receiver, otlp_receiver
from tests.functional.tracing_support import CLUSTER, FUNCTIONS, send_alert, traced_stack

pytestmark = pytest.mark.slow
NS = "ledger"
TRACE_ID = secrets.token_hex(16)
PARENT = secrets.token_hex(8)


def _answer(req: Request) -> Reply:
    return Reply.plan({
        "hypothesis": "ledger exits with an application error on start.", "confidence": 0.8,
        "runbook": "k8s_crashloop", "chunk": "k8s_crashloop#what-to-do",
        "actions": [{"type": "rollout_restart", "target_kind": "Deployment",
                     "target_namespace": NS, "target_name": "ledger", "parameters": [],
                     "reason": "every replica exits"}]})


def _alert(pod: str) -> dict[str, Any]:
    payload = load_event("alertmanager_crashloop")
    alert = payload["alerts"][0]
    alert["labels"].update(namespace=NS, pod=pod, container="app", cluster=CLUSTER)
    alert["fingerprint"] = "7aced0000000001"
    alert["startsAt"] = "2026-11-27T01:00:00Z"
    return payload


def _whole_trace(rc: Receiver) -> bool:
    """The five functions' stage spans of the trace have arrived, and so has each one's parent
    (or it is the Alertmanager span the trace started with)."""
    spans = [s for s in rc.spans if s.trace_id == TRACE_ID]
    stages = [s for s in spans if "orchestrator.function" in s.attributes]
    ids = {s.span_id for s in spans} | {PARENT}
    return set(FUNCTIONS) <= {s.service.removeprefix("orchestrator-") for s in stages} and all(
        s.parent_id in ids for s in stages)


@dataclass
class Run:
    receiver: Receiver
    events: list[Any]
    dead: list[Any]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("traced")
    with ExitStack() as stack_of:
        receiver = stack_of.enter_context(otlp_receiver())
        api = stack_of.enter_context(FakeKubeAPI())
        gemini = stack_of.enter_context(fake_gemini())
        gemini.responder = _answer
        scenario = ko.stable_crashlooping_deployment(NS, "ledger").load(api)
        agent = {"AGENT_GEMINI_API_KEY": "trace-test-key", "AGENT_BASE_URL": gemini.url,
                 "AGENT_BACKOFF_SECONDS": "0.01", "AGENT_TIMEOUT_SECONDS": "10"}
        stack = stack_of.enter_context(traced_stack(tmp, api, receiver, env={"agent": agent}))
        assert stack.broker is not None
        send_alert(stack, _alert(scenario["pod"]["metadata"]["name"]), f"00-{TRACE_ID}-{PARENT}-01")
        assert stack.broker.wait_idle(120), stack.broker.stats()
        # Each process exports on its own schedule: a stage's span can arrive before the span
        # of the stage that handed it the work. Wait for every stage, and for every parent.
        receiver.wait(_whole_trace, timeout=30)
        yield Run(receiver, stack.broker.events(), stack.broker.list_deadletters())


def _spans(run: Run, service: str) -> list[Any]:
    with run.receiver.cond:
        return [s for s in run.receiver.spans if s.service == f"orchestrator-{service}"]


def test_the_loop_ran_to_the_end_with_signatures_intact(run: Run) -> None:
    assert run.dead == [], [(d.trigger, d.reason) for d in run.dead]
    types = [e.attributes["type"] for e in run.events]
    for wanted in ("incident.alert.received", "incident.context.enriched",
                   "incident.plan.proposed", "incident.action.completed"):
        assert wanted in types, (wanted, types)
    # The fake cluster never heals: verification closes the incident one way or the other.
    assert {"incident.resolved", "incident.escalated"} & set(types), types


def test_every_event_on_the_broker_carries_the_alert_managers_trace(run: Run) -> None:
    for e in run.events:
        traceparent = e.attributes.get("traceparent", "")
        assert traceparent.split("-")[1:2] == [TRACE_ID], (e.attributes["type"], traceparent)


def test_one_trace_spans_the_five_functions_each_stage_a_child_of_the_last(run: Run) -> None:
    stages = [s for s in run.receiver.spans if s.trace_id == TRACE_ID
              and ("orchestrator.function" in s.attributes)]
    by_id = {s.span_id: s for s in run.receiver.spans if s.trace_id == TRACE_ID}
    ingest = [s for s in stages if s.service == "orchestrator-ingest"]
    assert [s.parent_id for s in ingest] == [PARENT]
    assert ingest[0].attributes["http.response.status_code"] < 300
    assert "emit" in ingest[0].events  # the alert.received it posted, with its incident key
    for s in stages:
        if s in ingest:
            continue
        assert s.attributes["incident.key"], s
        assert s.attributes["cloudevents.event_type"].startswith("incident."), s
        assert s.attributes["orchestrator.outcome"], s
        # Its parent is a span of the trace: the stage (or a call inside it) that emitted its
        # input event, so the trace is a tree, not five loose roots.
        assert s.parent_id in by_id, (s.service, s.name)
    router = {s.attributes["cloudevents.event_type"]: s for s in stages
              if s.service == "orchestrator-router"}
    assert router["incident.alert.received"].attributes["orchestrator.outcome"] == \
        "incident.context.enriched"


def test_kubernetes_calls_and_retrieval_are_child_spans(run: Run) -> None:
    kube = [s for s in _spans(run, "router") if s.name.startswith("kubernetes ")]
    assert kube and all(s.trace_id == TRACE_ID for s in kube), kube
    assert any(s.name.startswith("kubernetes ") for s in _spans(run, "executor"))
    retrieval = [s for s in _spans(run, "agent") if s.name == "retrieval"]
    assert len(retrieval) == 1 and "k8s_crashloop" in retrieval[0].attributes["retrieval.runbooks"]


def test_the_llm_call_follows_the_genai_conventions(run: Run) -> None:
    calls = [s for s in _spans(run, "agent") if s.attributes.get("gen_ai.operation.name")]
    assert len(calls) == 1, [s.name for s in _spans(run, "agent")]
    a = calls[0].attributes
    assert calls[0].trace_id == TRACE_ID
    assert a["gen_ai.system"] == "gcp.gemini"
    assert a["gen_ai.request.model"] and calls[0].name == f"chat {a['gen_ai.request.model']}"
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert a["gen_ai.response.finish_reasons"] == ["stop"]


def test_metrics_count_incidents_actions_and_tokens(run: Run) -> None:
    run.receiver.wait(lambda rc: {"orchestrator.incidents", "orchestrator.actions",
                                  "gen_ai.client.token.usage"} <= set(rc.metrics), timeout=30)
    with run.receiver.cond:
        incidents = run.receiver.metrics["orchestrator.incidents"]
        actions = run.receiver.metrics["orchestrator.actions"]
        tokens = run.receiver.metrics["gen_ai.client.token.usage"]
    closed = [e.attributes["type"].rsplit(".", 1)[-1] for e in run.events
              if e.attributes["type"] in ("incident.resolved", "incident.escalated")]
    # Counters are cumulative and exported every interval: the highest point is the total.
    totals: dict[str, float] = {}
    for a, v in incidents:
        totals[a["outcome"]] = max(v, totals.get(a["outcome"], 0.0))
    assert totals == {o: float(closed.count(o)) for o in closed}, incidents
    assert any(a.get("action.type") == "rollout_restart" for a, _ in actions), actions
    assert {a["gen_ai.token.type"] for a, v in tokens if v > 0} == {"input", "output"}
