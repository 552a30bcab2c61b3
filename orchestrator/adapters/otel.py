"""The OpenTelemetry SDK behind `orchestrator.telemetry`: providers, OTLP/HTTP exporters, and the
W3C trace-context propagator that reads and writes the CloudEvents `traceparent`/`tracestate`.

Imported only when export is switched on (`OTEL_EXPORTER_OTLP_ENDPOINT`), by
`telemetry._backend`: with it unset no `opentelemetry` module is ever loaded, so a cold start pays
nothing for tracing. The providers are this module's own, not the SDK's process-wide globals, so a
test can run several without one leaking into the next. Exporters read the standard `OTEL_*`
variables themselves (endpoint, headers, timeout); the batch processor reads `OTEL_BSP_*`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from orchestrator.settings.telemetry import TelemetrySettings

TRACE_EXTENSIONS = ("traceparent", "tracestate")


#: The loop's metrics: (key the code records under, kind, name, unit, description).
INSTRUMENTS = (
    ("incidents", "counter", "orchestrator.incidents", "{incident}",
     "Incidents closed, by outcome (resolved or escalated)"),
    ("actions", "counter", "orchestrator.actions", "{action}",
     "Actions the executor ran or refused, by type and result"),
    ("verified", "histogram", "orchestrator.incident.time_to_verified", "s",
     "From the alert's start to the loop seeing the workload healthy"),
    ("tokens", "histogram", "gen_ai.client.token.usage", "{token}",
     "Tokens per LLM call, by type (input or output)"),
)

class Backend:
    """One function's tracer and meter, exporting over OTLP/HTTP in the background."""

    def __init__(self, settings: TelemetrySettings, function: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({
            "service.name": settings.service_name or f"orchestrator-{function}",
            "service.namespace": "incident-orchestrator"})
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.tracer_provider.get_tracer("orchestrator")
        self.propagator = TraceContextTextMapPropagator()
        self.meter_provider: Any = None
        self.instruments: dict[str, Any] = {}
        if settings.exporter_otlp_endpoint:
            self._start_metrics(resource)

    def _start_metrics(self, resource: Any) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        meter = self.meter_provider.get_meter("orchestrator")
        create = {"counter": meter.create_counter, "histogram": meter.create_histogram}
        self.instruments = {key: create[kind](name, unit=unit, description=description)
                            for key, kind, name, unit, description in INSTRUMENTS}

    # ---- spans ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def span(self, name: str, attributes: Mapping[str, Any], *, kind: str = "internal",
             carrier: Mapping[str, str] | None = None) -> Iterator[Any]:
        """A span, current for the block; `carrier` (trace-context fields) makes it the child of
        the remote span they name, else it is the child of the current one (or a new root).
        An exception leaving the block is recorded on the span and marks it failed."""
        parent = self.propagator.extract(dict(carrier)) if carrier is not None else None
        with self.tracer.start_as_current_span(
                name, context=parent, kind=_KINDS[kind], attributes=dict(attributes),
                record_exception=True, set_status_on_exception=True) as span:
            yield span

    @staticmethod
    def fail(span: Any, error: BaseException) -> None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:300]))

    @staticmethod
    def mark_failed(span: Any, description: str) -> None:
        span.set_status(Status(StatusCode.ERROR, description[:300]))

    def inject(self) -> dict[str, str]:
        """The current span's trace context as CloudEvents extension attributes ({} if none)."""
        carrier: dict[str, str] = {}
        self.propagator.inject(carrier, context=otel_context.get_current())
        return {k: v for k, v in carrier.items() if k in TRACE_EXTENSIONS}

    @staticmethod
    def current() -> Any:
        span = trace.get_current_span()
        return span if span.get_span_context().is_valid else None

    # ---- metrics -------------------------------------------------------------------------

    def add(self, instrument: str, value: float, attributes: Mapping[str, str]) -> None:
        if (inst := self.instruments.get(instrument)) is None:
            return
        if instrument in ("tokens", "verified"):
            inst.record(value, dict(attributes))
        else:
            inst.add(value, dict(attributes))

    def flush(self, timeout_millis: int = 5000) -> None:
        self.tracer_provider.force_flush(timeout_millis)
        if self.meter_provider is not None:
            self.meter_provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


_KINDS = {"internal": SpanKind.INTERNAL, "server": SpanKind.SERVER,
          "consumer": SpanKind.CONSUMER, "client": SpanKind.CLIENT}
