"""One incident is one trace, a human's approval included: an alert whose rollback needs a person
goes through the real local stack (broker + five function processes, the fake Kubernetes API)
with export on, waits for approval, is approved through the console's API (as `orchestrator
approve`, the web page, Slack and MCP do: one path), and the executor applies the rollback. An
OTLP/HTTP receiver sees every stage of it, the decision's span included, under the trace id the
Alertmanager request started, each span the child of the one that handed it the work.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from orchestrator.events import (
    ACTION_COMPLETED,
    ALERT_RECEIVED,
    APPROVAL_REQUESTED,
    CONTEXT_ENRICHED,
    PLAN_APPROVED,
    PLAN_PROPOSED,
)
from orchestrator.local.stack import Stack
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.otlp import Receiver, Span, otlp_receiver
from tests.functional.auth_support import alert_payload
from tests.functional.tracing_support import send_alert, traced_stack

pytestmark = pytest.mark.slow
NS, APP = "payments", "cart"
TRACE_ID = secrets.token_hex(16)
PARENT = secrets.token_hex(8)


@dataclass
class Run:
    receiver: Receiver
    events: list[Any]
    writes: list[tuple[str, str]]
    dead: list[Any]


def _events(stack: Stack, key: str, type_: str) -> list[Any]:
    assert stack.broker is not None
    return [e for e in stack.broker.events(key) if e.attributes["type"] == type_]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("traced-approval")
    with ExitStack() as stack_of:
        receiver = stack_of.enter_context(otlp_receiver())
        api = stack_of.enter_context(FakeKubeAPI())
        scenario = ko.crashlooping_deployment(NS, APP).load(api)  # a fresh rollout: rollback
        stack = stack_of.enter_context(traced_stack(tmp, api, receiver))
        assert stack.broker is not None
        payload = alert_payload(scenario["pod"]["metadata"]["name"], "7aced0000000a001")
        (key,) = send_alert(stack, payload, f"00-{TRACE_ID}-{PARENT}-01").json()["incidents"]
        assert stack.broker.wait_idle(120), stack.broker.stats()
        [request] = _events(stack, key, APPROVAL_REQUESTED)
        plan_id = request.data["plan"]["plan_id"]
        # The person decides later, in a request of their own: no trace context with it.
        r = httpx.post(f"{stack.console_url}/api/approvals/{plan_id}/approve", json={},
                       timeout=30, trust_env=False, headers={
                           "Authorization": f"Bearer {stack.secrets['approver_token']}"})
        assert r.status_code == 202, r.text
        assert stack.broker.wait_idle(120), stack.broker.stats()
        assert _events(stack, key, ACTION_COMPLETED), "the approved rollback never ran"
        receiver.wait(lambda rc: any(  # the router's verification, in whichever trace
            s.attributes.get("cloudevents.event_type") == ACTION_COMPLETED
            and s.service == "orchestrator-router" for s in rc.spans), timeout=30)
        writes = [(q.method, q.path) for q in api.requests
                  if q.method in ("PATCH", "POST", "PUT", "DELETE") and not q.dry_run
                  and "/leases" not in q.path and "/events" not in q.path]
        yield Run(receiver, stack.broker.events(key), writes, stack.broker.list_deadletters())


def _stage(run: Run, service: str, consumed: str) -> Span:
    """The span of `service` handling the one event of type `consumed` (in any trace)."""
    with run.receiver.cond:
        found = [s for s in run.receiver.spans if s.service == f"orchestrator-{service}"
                 and s.attributes.get("cloudevents.event_type") == consumed]
    assert len(found) == 1, (service, consumed, found)
    return found[0]


def _parent_of_event(run: Run, type_: str) -> str:
    """The span id an event on the broker names as its parent (its `traceparent`)."""
    [event] = [e for e in run.events if e.attributes["type"] == type_]
    return str(event.attributes["traceparent"].split("-")[2])


def test_the_approved_action_was_applied(run: Run) -> None:
    assert run.dead == [], [(d.trigger, d.reason) for d in run.dead]
    assert [path.rsplit("/", 1)[-1] for method, path in run.writes
            if method == "PATCH" and "/deployments/" in path] == [APP]


def test_every_event_after_the_approval_carries_the_alert_managers_trace(run: Run) -> None:
    types = [e.attributes["type"] for e in run.events]
    assert types.index(APPROVAL_REQUESTED) < types.index(PLAN_APPROVED) < \
        types.index(ACTION_COMPLETED), types
    for e in run.events:
        assert e.attributes["traceparent"].split("-")[1] == TRACE_ID, (
            e.attributes["type"], e.attributes["traceparent"])


def test_the_decision_is_the_child_of_the_request_and_the_parent_of_the_action(
        run: Run) -> None:
    with run.receiver.cond:
        [decide] = [s for s in run.receiver.spans if s.name == "console decide"]
    asked = _stage(run, "executor", PLAN_PROPOSED)
    acted = _stage(run, "executor", PLAN_APPROVED)
    assert decide.trace_id == asked.trace_id == acted.trace_id == TRACE_ID
    # The request left the executor under its stage span (or a call inside it); the decision
    # continues that, and the executor's handling of the approval continues the decision.
    by_id = {s.span_id: s for s in run.receiver.spans if s.trace_id == TRACE_ID}
    assert decide.parent_id == _parent_of_event(run, APPROVAL_REQUESTED)
    assert asked.span_id in [decide.parent_id, *_ancestors(by_id, decide.parent_id)]
    assert acted.parent_id == decide.span_id == _parent_of_event(run, PLAN_APPROVED)
    assert acted.attributes["orchestrator.outcome"] == ACTION_COMPLETED
    assert decide.attributes["orchestrator.outcome"] == PLAN_APPROVED
    writes = [s for s in run.receiver.spans if s.parent_id == acted.span_id
              and s.name.startswith("kubernetes ")]
    assert writes, "the rollback's Kubernetes calls are not children of the approved stage"


def test_one_trace_from_the_alert_to_the_verification(run: Run) -> None:
    spans = {(s.service.removeprefix("orchestrator-"), s.attributes.get(
        "cloudevents.event_type", s.name)) for s in run.receiver.spans if s.trace_id == TRACE_ID
        and "orchestrator.function" in s.attributes}
    for wanted in (("ingest", "ingest receive"), ("router", ALERT_RECEIVED),
                   ("agent", CONTEXT_ENRICHED), ("executor", PLAN_PROPOSED),
                   ("console", APPROVAL_REQUESTED), ("console", "console decide"),
                   ("executor", PLAN_APPROVED), ("router", ACTION_COMPLETED)):
        assert wanted in spans, (wanted, sorted(spans))


def _ancestors(by_id: dict[str, Span], span_id: str) -> list[str]:
    out = []
    while span_id in by_id and by_id[span_id].parent_id:
        span_id = by_id[span_id].parent_id
        out.append(span_id)
    return out
