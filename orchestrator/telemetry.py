"""Traces and metrics of the loop, for the SRE's own tracing system; nothing at all when off.

One incident is one trace across the five functions: ingest starts it (or continues the
Alertmanager request's `traceparent`), every stage opens its span as the child of the trace
context its input event carries (the CloudEvents distributed-tracing extension: `traceparent`,
`tracestate`), and every event a stage emits carries the context of that span (`envelope.to_binary`
asks `trace_extensions`). Inside a stage: a child span per Kubernetes call, per retrieval and per
LLM call (OpenTelemetry GenAI conventions). A person's decision on an approval request arrives
with no event: it continues the request's trace from the context the console's audit log kept
with the request (`resumed`), so the wait for a human does not cut the incident's trace in two.

The trace attributes travel outside what an event's signature covers (`provenance.signed_message`
lists its attributes): a tracing broker or mesh (Knative's, with tracing on) rewrites
`traceparent` on its way through, which would break every signature, and a forged trace context
can only mislabel telemetry, never change what a stage decides or does.

Export is on only when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is
set (`settings.telemetry`). Off, every call here is a check of one module variable: the SDK
(`adapters.otel`) is never imported, so cold starts are unchanged (bench/cold_start.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.adapters.otel import Backend
    from orchestrator.envelope import Event, Outgoing

log = logging.getLogger(__name__)

_backend: Backend | None = None
_checked = False
_lock = threading.Lock()


def backend(function: str | None = None) -> Backend | None:
    """The exporting backend, started on first use when export is configured; else None."""
    global _backend, _checked
    if _checked:
        return _backend
    with _lock:  # the first requests may arrive together on gunicorn's threads
        if not _checked:
            from orchestrator.settings.telemetry import TelemetrySettings

            settings = TelemetrySettings.from_env()
            if settings.enabled:
                from orchestrator.adapters.otel import Backend

                _backend = Backend(settings, function or "orchestrator")
                log.info("exporting traces over OTLP/HTTP")
            _checked = True
    return _backend


def reset() -> None:
    """Flush and forget the backend, so the next use reads the environment again (tests)."""
    global _backend, _checked
    if _backend is not None:
        _backend.shutdown()
    _backend, _checked = None, False


class Span:
    """What a stage or a call tells its span; every method is a no-op when export is off."""

    def __init__(self, backend: Backend | None = None, span: Any = None) -> None:
        self._backend, self._span = backend, span

    def set(self, key: str, value: str | int | float | bool | list[str]) -> None:
        if self._span is not None:
            self._span.set_attribute(key, value)

    def outcome(self, outcome: str) -> None:
        self.set("orchestrator.outcome", outcome)

    def failed(self, error: BaseException) -> None:
        if self._backend is not None:
            self._backend.fail(self._span, error)

    def http_status(self, status: int) -> None:
        self.outcome(f"http {status}")
        self.set("http.response.status_code", status)
        if status >= 500 and self._backend is not None:
            self._backend.mark_failed(self._span, f"answered {status}")


@contextlib.contextmanager
def stage(function: str, *, event: Event | None = None,
          headers: Mapping[str, str] | None = None) -> Iterator[Span]:
    """The span of one stage handling one delivery: an event (its trace-context extensions are
    the parent) or, for ingest, an HTTP request (its `traceparent` header, if any)."""
    b = backend(function)
    if b is None:
        yield Span()
        return
    attrs: dict[str, Any] = {"orchestrator.function": function}
    if event is not None:
        carrier = {k: v for k in ("traceparent", "tracestate")
                   if (v := event.extensions.get(k))}
        attrs.update({"cloudevents.event_type": event.type, "cloudevents.event_id": event.id,
                      "cloudevents.event_source": event.source})
        if event.incident_key:
            attrs["incident.key"] = event.incident_key
        name, kind = f"{function} process {event.type}", "consumer"
    else:
        carrier = {k: v for k in ("traceparent", "tracestate") if (v := (headers or {}).get(k))}
        name, kind = f"{function} receive", "server"
    with b.span(name, attrs, kind=kind, carrier=carrier) as s:
        yield Span(b, s)


@contextlib.contextmanager
def resumed(function: str, name: str, *, carrier: Mapping[str, str],
            attributes: Mapping[str, Any]) -> Iterator[Resumed]:
    """The span of work that continues a trace stored earlier, not one delivered with its input:
    a person's decision, minutes or hours later, on an approval request whose trace context the
    audit log kept (`carrier`), so alert → request → decision → action stays one trace. With
    no carrier (a request logged before tracing was on) the decision starts a new trace."""
    b = backend(function)
    if b is None:
        # Not exported here: what this work emits passes the stored context on unchanged, so
        # the stages after it (which may export) still continue the incident's trace.
        yield Resumed(passed_on=dict(carrier))
        return
    attrs = {"orchestrator.function": function, **attributes}
    with b.span(name, attrs, kind="server", carrier=carrier) as s:
        yield Resumed(b, s)


class Resumed(Span):
    def __init__(self, backend: Backend | None = None, span: Any = None, *,
                 passed_on: dict[str, str] | None = None) -> None:
        super().__init__(backend, span)
        self.passed_on = passed_on or {}
        """Trace-context extensions an event emitted in this span must carry itself: the stored
        context when this span is not exported ({} when it is: `to_binary` injects its own)."""


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
    """A child span of the current one (a Kubernetes call, a retrieval); only inside a trace."""
    b = _backend
    if b is None or b.current() is None:
        yield Span()
        return
    with b.span(name, attributes or {}, kind="client") as s:
        yield Span(b, s)


@contextlib.contextmanager
def llm_call(*, provider: str, model: str, max_tokens: int,
             temperature: float) -> Iterator[LLMSpan]:
    """The span of one LLM call, named and attributed per the OpenTelemetry GenAI conventions."""
    system = "gcp.gemini" if "gemini" in provider.lower() else "openai"
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.system": system,
             "gen_ai.request.model": model, "gen_ai.request.max_tokens": max_tokens,
             "gen_ai.request.temperature": temperature}
    with span(f"chat {model}", attrs) as s:
        yield LLMSpan(s, system, model)


class LLMSpan:
    def __init__(self, span: Span, system: str, model: str) -> None:
        self.span, self.system, self.model = span, system, model

    def record(self, *, model: str, tokens_in: int, tokens_out: int, finish_reason: str) -> None:
        self.span.set("gen_ai.response.model", model)
        self.span.set("gen_ai.usage.input_tokens", tokens_in)
        self.span.set("gen_ai.usage.output_tokens", tokens_out)
        self.span.set("gen_ai.response.finish_reasons", [finish_reason.lower() or "unknown"])
        if _backend is not None:
            base = {"gen_ai.operation.name": "chat", "gen_ai.system": self.system,
                    "gen_ai.request.model": self.model}
            _backend.add("tokens", tokens_in, {**base, "gen_ai.token.type": "input"})
            _backend.add("tokens", tokens_out, {**base, "gen_ai.token.type": "output"})


def trace_extensions(out: Outgoing) -> dict[str, str]:
    """What an emitted event carries of the current trace (`traceparent`, `tracestate`), and the
    metrics its emission counts; {} when export is off or no stage span is current."""
    b = _backend
    if b is None or (current := b.current()) is None:
        return {}
    current.add_event("emit", {"cloudevents.event_type": out.type, "cloudevents.event_id": out.id,
                               "incident.key": out.incident_key})
    _count(b, out)
    return b.inject()


def _count(b: Backend, out: Outgoing) -> None:
    from orchestrator.events import ACTION_COMPLETED, ACTION_FAILED, ESCALATED, RESOLVED

    if out.type in (RESOLVED, ESCALATED):
        b.add("incidents", 1, {"outcome": out.type.rsplit(".", 1)[-1]})
        how, alert = getattr(out.data, "how", ""), getattr(out.data, "alert", None)
        if how in ("verified-healthy", "alert-cleared") and alert is not None:
            seconds = (datetime.now(UTC) - alert.starts_at).total_seconds()
            b.add("verified", max(seconds, 0.0), {"how": how})
    elif out.type in (ACTION_COMPLETED, ACTION_FAILED):
        for result in getattr(out.data, "results", []):
            b.add("actions", 1, {"action.type": str(result.action.type),
                                 "result": str(result.outcome)})
