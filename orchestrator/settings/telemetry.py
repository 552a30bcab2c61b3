"""Settings of OpenTelemetry export, shared by the five functions: the standard `OTEL_*` names.

These are the variables every OpenTelemetry SDK reads, so a collector's usual setup (an operator
injecting them, or the chart's `otel` values) works unchanged. Only whether export is on is read
here; the SDK itself reads the rest (headers, timeouts, batch delays, resource attributes).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from orchestrator.settings.common import LeanSettings


class TelemetrySettings(LeanSettings):
    """Read with `TelemetrySettings.from_env()` (env prefix `OTEL_`)."""

    env_prefix: ClassVar[str] = "OTEL_"

    exporter_otlp_endpoint: str = ""
    """Base URL of an OTLP/HTTP receiver (`/v1/traces`, `/v1/metrics` are appended). Empty (the
    default) = no telemetry: the SDK is not even imported, so cold starts stay as they are."""

    exporter_otlp_traces_endpoint: str = ""
    """Full URL for traces only; setting it alone also switches export on."""

    sdk_disabled: bool = False
    """`true` switches telemetry off even when an endpoint is set (the standard kill switch)."""

    service_name: str = ""
    """The service name spans carry; empty = `orchestrator-<function>`."""

    # Read by the SDK itself, never here; listed so the chart's values map onto fields.
    exporter_otlp_headers: SecretStr | None = None
    """`key=value,...` headers for the receiver (an API key): from a Secret, never logged."""

    exporter_otlp_protocol: str = "http/protobuf"
    """The only protocol exported (OTLP over HTTP, protobuf bodies)."""

    resource_attributes: str = ""
    """`key=value,...` added to every span's resource (e.g. `deployment.environment=prod`)."""

    @property
    def enabled(self) -> bool:
        return not self.sdk_disabled and bool(
            self.exporter_otlp_endpoint or self.exporter_otlp_traces_endpoint)
