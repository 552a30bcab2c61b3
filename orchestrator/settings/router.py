"""Settings of the router function (env prefix `ROUTER_`).

How it reaches the cluster (in-cluster service account, else a kubeconfig, else none), how much
it reads per alert, how big the enriched event may be, and how long verification may watch.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from orchestrator.orient.limits import MetricLimits, ReadLimits
from orchestrator.settings.blocks import ClusterConnectionSettings, function_names
from orchestrator.settings.common import SenderIdentitySettings
from orchestrator.settings.files import FileSecretSettings


class RouterSettings(FileSecretSettings, SenderIdentitySettings, ClusterConnectionSettings,
                     ReadLimits, MetricLimits):
    """What the router needs: its cluster connection, its read bounds (`ReadLimits`, and
    `MetricLimits` for Prometheus) and its verify deadline."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore", validate_by_name=True,
                                      alias_generator=function_names("ROUTER_"))

    signing_key: SecretStr | None = None
    """This function's Ed25519 private key (PKCS#8 PEM), signing every context and verdict it emits.
    Unset (and no `ROUTER_SIGNING_KEY_FILE`, where the chart mounts `router.key` from its keys
    Secret) = nothing it emits verifies, so it refuses to emit."""

    public_keys_dir: Path | None = None
    """Folder of the other functions' Ed25519 public keys (`<function>.crt` certificates or `.pem`
    public keys; several per function while keys rotate). Alerts (ingest's) and action results (the
    executor's) are verified with them; without it every delivery is refused with 401."""

    event_max_age_seconds: float = Field(default=900.0, gt=0)
    """Freshness window of a delivered event's signed time, in seconds (15 min): older events are
    refused with 401 (the broker dead-letters them), so a captured event cannot be replayed later.
    Longer than the broker's retry schedule (about 16 s) and a scale-from-zero."""

    clock_skew_seconds: float = Field(default=60.0, ge=0)
    """Tolerated clock difference between functions, in seconds, for signed times."""

    read_threads: int = Field(default=6, ge=1, le=32)
    """Concurrent API reads per alert. A pod alert has at most ~5 independent reads at once
    (owner, node, events, logs), so more threads buy nothing and cost API server fairness."""

    max_event_bytes: int = Field(default=32 * 1024, ge=4096)
    """Byte cap of the enriched event's data, serialized (32 KiB): enough for status, events and
    two log tails, and it keeps the LLM prompt (and its cost) bounded. Filled in priority order:
    status, then events, then logs; what did not fit is listed in `context.cut`."""

    verify_timeout_seconds: float = Field(default=120.0, gt=0, le=225)
    """How long verification watches the acted-on object before escalating, in seconds. Must
    stay below the router-verify Trigger timeout (eventing/triggers.yaml: PT240S) minus the
    time to answer, or the broker would retry a verification that is still running."""

    max_verifications: int = Field(default=8, ge=1, le=256)
    """Verification watches one router process runs at once; one more is answered 503 at once
    (the broker retries it later) instead of waiting for a thread. Each watch holds a gunicorn
    thread up to `verify_timeout_seconds`, so the process must have more threads than this,
    or health checks and alerts queue behind the watches. The chart sets it to the router's
    `containerConcurrency` (Knative's hard limit per pod, which makes it scale out instead)
    and refuses `threads` below `containerConcurrency + 2`."""

    verify_settle_seconds: float = Field(default=30.0, ge=0)
    """How long the object must stay healthy before it counts as healed, in seconds: a
    crash-looping container is Ready for a moment after every restart."""

    max_body_bytes: int = Field(default=1024 * 1024, ge=4096)
    """Largest request body accepted, in bytes (1 MiB); a larger one is refused with 413 before
    it is read whole (`orchestrator.limits`). The loop's largest event is far smaller."""

    prometheus_url: str | None = None
    """Prometheus base URL (`http://prometheus.monitoring:9090`). Set: the context carries the
    alert rule's and the runbook's PromQL over the last minutes, and verification checks that
    the alert itself cleared. Unset: neither, and verdicts say the alert was not checked."""

    alertmanager_url: str | None = None
    """Alertmanager base URL: verification also asks it whether the alert's fingerprint is still
    active. Optional: with Prometheus alone the rule's expression is evaluated instead."""

    prometheus_timeout_seconds: float = Field(default=3.0, gt=0, le=5)
    """Timeout of one Prometheus or Alertmanager request, in seconds. Verification may pass
    its deadline by the requests in flight then (at most three of these), which is why
    `verify_timeout_seconds` stays 15 s below the verify Trigger's timeout."""

    runbooks_dir: Path | None = None
    """Runbooks whose PromQL the router runs for an alert they name (default: the packaged
    `runbooks/`). The same files the agent indexes."""

    alert_poll_seconds: float = Field(default=5.0, gt=0, le=60)
    """How often verification asks whether the alert still fires, in seconds (a Prometheus
    rule evaluates every 15-60 s, so polling faster learns nothing)."""
