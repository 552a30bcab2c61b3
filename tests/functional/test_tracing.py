"""Trace context through one stage, against a real OTLP/HTTP receiver: a delivered event's
`traceparent` is the parent of the stage's span, the reply carries the stage's context (and the
upstream `tracestate`) outside the signed attributes, errors are recorded on the span; and with
export off no `opentelemetry` module is ever loaded (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.common import ROOT, accepting_sink, first_answer
from bench.first_requests import FUNCTIONS, first_requests
from orchestrator import telemetry
from orchestrator.envelope import Event, Outgoing, decode
from orchestrator.errors import TransientError
from orchestrator.events import CONTEXT_ENRICHED, ESCALATED, RESOLVED, Escalated, Resolved
from orchestrator.handler import serve_event
from tests.fakes.otlp import Receiver, Span
from tests.incidents import make_alert
from tests.keys import keyring, now_z, seal, signer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
KEY = "payments/checkout@2026-11-27T01:00:00Z"


def _delivery(*, traceparent: bool = True) -> tuple[dict[str, str], bytes]:
    headers = {"content-type": "application/json", "ce-specversion": "1.0",
               "ce-type": CONTEXT_ENRICHED, "ce-id": "e-1", "ce-time": now_z(),
               "ce-incidentkey": KEY}
    if traceparent:
        headers.update({"ce-traceparent": f"00-{TRACE_ID}-{PARENT}-01",
                        "ce-tracestate": "vendor=abc"})
    body = json.dumps({"anything": True}).encode()
    return seal(headers, body), body


def _reply(event: Event) -> Outgoing:
    data = Escalated(incident_key=KEY, stage="agent", reason="no-runbook", detail="traced")
    return signer("agent").sealed(Outgoing(type=ESCALATED, id="r-1", function="agent",
                                           incident_key=KEY, data=data))


def _verified(event: Event) -> Outgoing:
    alert = make_alert({"alertname": "KubePodCrashLooping"},
                       starts_at=datetime.now(UTC) - timedelta(minutes=7))
    data = Resolved(incident_key=KEY, how="verified-healthy", alert=alert)
    return signer("router").sealed(Outgoing(type=RESOLVED, id="r-2", function="router",
                                            incident_key=KEY, data=data))


def _failing(event: Event) -> Outgoing:
    raise TransientError("the knowledge base is down")


def _stage_spans(rc: Receiver) -> list[Span]:
    with rc.cond:
        return [s for s in rc.spans if "orchestrator.function" in s.attributes]


def test_the_stage_continues_the_delivered_trace_and_the_reply_carries_it(
        receiver: Receiver) -> None:
    headers, body = _delivery()
    out_body, status, out_headers = serve_event(headers, body, _reply, function="agent")
    assert status == 200
    traceparent = out_headers["ce-traceparent"]
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id != PARENT  # the stage's own span, not a copy of the input's
    assert out_headers["ce-tracestate"] == "vendor=abc"

    telemetry.backend().flush()  # type: ignore[union-attr]
    receiver.wait(lambda rc: len(_stage_spans(rc)) == 1)
    [span] = _stage_spans(receiver)
    assert (span.service, span.trace_id, span.span_id, span.parent_id) == (
        "orchestrator-agent", TRACE_ID, span_id, PARENT)
    assert span.attributes["incident.key"] == KEY
    assert span.attributes["cloudevents.event_type"] == CONTEXT_ENRICHED
    assert span.attributes["orchestrator.outcome"] == ESCALATED
    assert span.status_code != 2


def test_trace_context_stays_outside_the_signature(receiver: Receiver) -> None:
    """A tracing broker rewrites `traceparent` in flight: the signature must still verify."""
    headers, body = _delivery()
    out_body, _, out_headers = serve_event(headers, body, _reply, function="agent")
    ring = keyring()
    now = datetime.now(UTC)
    assert ring.check(decode(out_headers, out_body), now=now) == "agent"
    rewritten = {**out_headers, "ce-traceparent": f"00-{'1' * 32}-{'2' * 16}-01"}
    assert ring.check(decode(rewritten, out_body), now=now) == "agent"


def test_a_delivery_without_trace_context_starts_a_trace(receiver: Receiver) -> None:
    headers, body = _delivery(traceparent=False)
    _, _, out_headers = serve_event(headers, body, _reply, function="agent")
    trace_id = out_headers["ce-traceparent"].split("-")[1]
    assert trace_id != TRACE_ID and int(trace_id, 16) != 0
    assert "ce-tracestate" not in out_headers


def test_an_error_is_recorded_on_the_stage_span(receiver: Receiver) -> None:
    headers, body = _delivery()
    _, status, _ = serve_event(headers, body, _failing, function="agent")
    assert status >= 500
    telemetry.backend().flush()  # type: ignore[union-attr]
    receiver.wait(lambda rc: len(_stage_spans(rc)) == 1)
    [span] = _stage_spans(receiver)
    assert span.status_code == 2  # STATUS_CODE_ERROR
    assert "exception" in span.events


def test_a_verified_resolution_counts_the_incident_and_its_time_to_verified(
        receiver: Receiver) -> None:
    headers, body = _delivery()
    _, status, _ = serve_event(headers, body, _verified, function="router")
    assert status == 200
    telemetry.backend().flush()  # type: ignore[union-attr]
    receiver.wait(lambda rc: "orchestrator.incident.time_to_verified" in rc.metrics)
    with receiver.cond:
        attrs, seconds = receiver.metrics["orchestrator.incident.time_to_verified"][-1]
        counted, n = receiver.metrics["orchestrator.incidents"][-1]
    assert attrs == {"how": "verified-healthy"} and 7 * 60 <= seconds < 8 * 60, seconds
    assert (counted, n) == ({"outcome": "resolved"}, 1.0)


def test_export_off_replies_carry_no_trace_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    telemetry.reset()
    headers, body = _delivery()
    _, status, out_headers = serve_event(headers, body, _reply, function="agent")
    assert status == 200 and "ce-traceparent" not in out_headers
    assert telemetry.backend() is None


FRESH = f"""
TRACEPARENT = "00-{TRACE_ID}-{PARENT}-01"
import importlib.util, sys
from pathlib import Path
for name in ("ingest", "router", "agent", "executor", "console"):
    spec = importlib.util.spec_from_file_location("fn_" + name, Path("functions") / name / "main.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
from orchestrator import telemetry
from orchestrator.envelope import Outgoing, to_binary
from orchestrator.events import Escalated
from orchestrator.handler import serve_event
with telemetry.stage("agent", headers=dict(traceparent=TRACEPARENT)) as s:
    s.outcome("x")
    with telemetry.span("kubernetes read"), telemetry.llm_call(
            provider="Gemini", model="m", max_tokens=1, temperature=0.0) as c:
        c.record(model="m", tokens_in=1, tokens_out=1, finish_reason="STOP")
    data = Escalated(incident_key="k", stage="agent", reason="no-runbook")
    headers, _ = to_binary(Outgoing(type="incident.escalated", id="1", function="agent",
                                    incident_key="k", data=data))
    assert "ce-traceparent" not in headers, headers
print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
"""


def test_with_export_off_the_sdk_is_never_imported() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", FRESH], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]", done.stdout


# The SDK stands in as a package that ends the process the moment anything imports it.
POISON = ("import os, sys\nsys.stderr.write('opentelemetry imported with export off\\n')\n"
          "os._exit(97)\n")


@pytest.mark.slow
@pytest.mark.parametrize("function", FUNCTIONS)
def test_with_export_off_a_functions_first_request_never_imports_the_sdk(
        function: str, tmp_path: Path) -> None:
    """Each function served as deployed, answering the first request it meets in the loop (the
    cold-start bench's), with an `opentelemetry` that kills the process on import: it answers."""
    (tmp_path / "poison" / "opentelemetry").mkdir(parents=True)
    (tmp_path / "poison" / "opentelemetry" / "__init__.py").write_text(POISON)
    sink = accepting_sink()  # the broker ingest publishes to
    try:
        env, requests = first_requests(tmp_path, f"http://127.0.0.1:{sink.server_address[1]}/")
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "poison"),
                                             env.get("PYTHONPATH", "")])
        first_answer(ROOT / "functions" / function / "main.py", env, requests[function],
                     timeout=20)
    finally:
        sink.shutdown()
        sink.server_close()
