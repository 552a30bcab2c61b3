"""A person's decision continues the trace of the approval request it answers: the console keeps
each event's trace context in its audit record, and `incident.plan.approved`/`.rejected` leaves
under a `console decide` span that is the child of the request's span (export on), or carries
the request's own context on (export off here), so the executor's action stays in the
incident's trace. The whole loop with a human in it: test_tracing_approval_loop.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator import telemetry
from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.console import audit
from orchestrator.events import APPROVAL_REQUESTED, ESCALATED, PLAN_APPROVED, PLAN_REJECTED
from tests.fakes.otlp import Receiver, Span
from tests.fakes.sink import Sink
from tests.functional.console_support import (
    ALICE,
    AUTH,
    Story,
    console_app,
    console_env,
    deliver,
)

TRACE_ID = "5c1d0e7a9b3f4a2e8d6c4b2a19f7e5d3"
REQUEST_SPAN = "a1b2c3d4e5f60718"
TRACEPARENT = f"00-{TRACE_ID}-{REQUEST_SPAN}-01"
TRACESTATE = "vendor=approval"


@pytest.fixture
def client(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    console_env(monkeypatch, tmp_path / "audit", sink.url)
    yield console_app().test_client()
    __import__("orchestrator.console.service").console.service.instance.reset()
    telemetry.reset()


@pytest.fixture
def off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Export switched off (whatever the environment running the tests says)."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    telemetry.reset()


def _awaiting(client: Any, story: Story, *, traced: bool = True, **kw: Any) -> None:
    request = story.approval_requested(**kw)
    if traced:  # as the executor's span left it on the event
        request = dataclasses.replace(request, extra={"traceparent": TRACEPARENT,
                                                      "tracestate": TRACESTATE})
    for out in (story.alert_received(), story.context_enriched(), story.plan_proposed(),
                request):
        assert deliver(client, out).status_code == 202


def _decide(client: Any, story: Story, sink: Sink, verb: str = "approve") -> dict[str, str]:
    r = client.post(f"/api/approvals/{story.plan.plan_id}/{verb}", json={}, headers=ALICE)
    assert r.status_code == 202, r.data
    [decision] = sink.wait_for(1)
    return {k.lower(): v for k, v in decision.headers.items()}


def _expire(client: Any, story: Story, sink: Sink) -> dict[str, str]:
    """A request nobody answered in time, and the sweep that escalates it."""
    _awaiting(client, story, requested_at=datetime.now(UTC) - timedelta(minutes=20))
    r = client.post("/sweep", headers=AUTH)
    assert r.status_code == 200 and r.get_json()["expired"] == [story.plan.plan_id], r.data
    [escalation] = sink.wait_for(1)
    headers = {k.lower(): v for k, v in escalation.headers.items()}
    assert headers["ce-type"] == ESCALATED
    return headers


def _spans(rc: Receiver, name: str) -> list[Span]:
    with rc.cond:
        return [s for s in rc.spans if s.name == name]


def _decide_spans(rc: Receiver) -> list[Span]:
    return _spans(rc, "console decide")


def test_the_audit_log_keeps_each_events_trace_context(
        off: None, client: Any, tmp_path: Path) -> None:
    story = Story()
    _awaiting(client, story)
    records = audit.read(LocalDirStore(tmp_path / "audit"), story.key)
    [request] = [r for r in records if r.type == APPROVAL_REQUESTED]
    assert request.trace() == {"traceparent": TRACEPARENT, "tracestate": TRACESTATE}
    assert all(r.trace() == {} for r in records if r is not request)  # none was carried


def test_with_export_off_the_decision_carries_the_requests_trace_on(
        off: None, client: Any, sink: Sink) -> None:
    story = Story()
    _awaiting(client, story)
    headers = _decide(client, story, sink)
    assert headers["ce-type"] == PLAN_APPROVED
    assert (headers["ce-traceparent"], headers["ce-tracestate"]) == (TRACEPARENT, TRACESTATE)
    assert telemetry.backend() is None


def test_the_decision_is_a_span_of_the_requests_trace(
        receiver: Receiver, client: Any, sink: Sink) -> None:
    story = Story()
    _awaiting(client, story)
    headers = _decide(client, story, sink, verb="reject")
    assert headers["ce-type"] == PLAN_REJECTED
    version, trace_id, span_id, flags = headers["ce-traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id != REQUEST_SPAN  # the decision's own span, the executor's parent next
    assert headers["ce-tracestate"] == TRACESTATE

    backend = telemetry.backend()
    assert backend is not None
    backend.flush()
    receiver.wait(lambda rc: len(_decide_spans(rc)) == 1)
    [span] = _decide_spans(receiver)
    assert (span.service, span.trace_id, span.span_id, span.parent_id) == (
        "orchestrator-console", TRACE_ID, span_id, REQUEST_SPAN)
    assert span.attributes["incident.key"] == story.key
    assert span.attributes["orchestrator.plan_id"] == story.plan.plan_id
    assert span.attributes["orchestrator.decision"] == "rejected"
    assert span.attributes["orchestrator.outcome"] == PLAN_REJECTED
    assert "approver" not in str(span.attributes)  # who decided stays in the audit log


def test_a_request_logged_without_trace_context_is_decided_in_a_new_trace(
        receiver: Receiver, client: Any, sink: Sink) -> None:
    story = Story()
    _awaiting(client, story, traced=False)
    headers = _decide(client, story, sink)
    trace_id = headers["ce-traceparent"].split("-")[1]
    assert trace_id != TRACE_ID and int(trace_id, 16) != 0


def test_with_export_off_an_expiry_carries_the_requests_trace_on(
        off: None, client: Any, sink: Sink) -> None:
    headers = _expire(client, Story(), sink)
    assert (headers["ce-traceparent"], headers["ce-tracestate"]) == (TRACEPARENT, TRACESTATE)


def test_an_expiry_is_a_span_of_the_requests_trace(
        receiver: Receiver, client: Any, sink: Sink) -> None:
    story = Story()
    headers = _expire(client, story, sink)
    _, trace_id, span_id, _ = headers["ce-traceparent"].split("-")
    backend = telemetry.backend()
    assert backend is not None
    backend.flush()
    receiver.wait(lambda rc: len(_spans(rc, "console expire")) == 1)
    [span] = _spans(receiver, "console expire")
    assert (span.trace_id, span.span_id, span.parent_id) == (TRACE_ID, span_id, REQUEST_SPAN)
    assert span.attributes["incident.key"] == story.key
    assert span.attributes["orchestrator.outcome"] == ESCALATED
