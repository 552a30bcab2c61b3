"""Settings of the ingest function (env prefix `INGEST_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr

from orchestrator.settings.common import LeanSettings


class IngestSettings(LeanSettings):
    """What ingest needs: where the broker is, how callers authenticate, how much to accept.

    Read with `IngestSettings.from_env()` (env prefix `INGEST_`).
    """

    env_prefix: ClassVar[str] = "INGEST_"

    token: SecretStr | None = None
    """Bearer token Alertmanager sends (`http_config.authorization`); compared in constant time."""

    signing_key: SecretStr | None = None
    """This function's Ed25519 private key (PKCS#8 PEM), signing every `incident.alert.received`.
    Unset (and no `INGEST_SIGNING_KEY_FILE`, where the chart mounts `ingest.key` from its keys
    Secret) = nothing it emits verifies, so it refuses to emit."""

    auth_disabled: bool = False
    """Accept unauthenticated requests. Only for local experiments; start-up logs a warning."""

    broker_url: str | None = Field(
        default=None, validation_alias=AliasChoices("K_SINK", "INGEST_BROKER_URL")
    )
    """Broker ingress URL. `K_SINK` (set by a Knative SinkBinding) wins over INGEST_BROKER_URL."""

    broker_timeout_seconds: float = 5.0
    """Per-POST timeout towards the broker; Alertmanager retries the webhook on our 5xx."""

    max_body_bytes: int = 1024 * 1024
    """Largest webhook body accepted (1 MiB by default: Alertmanager groups are far smaller)."""

    max_alerts: int = 1000
    """Largest number of alerts in one webhook; above it the request is refused with 413."""
