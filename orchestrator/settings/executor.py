"""Settings of the executor function (env prefix `EXECUTOR_`).

The policy itself (mode, allowed actions, namespaces, budget, approvers) is a YAML file the Helm
values carry (`orchestrator.act.policy`); these settings say where it is, which cluster this is,
which keys sign and verify plans and approvals, how to reach the Kubernetes API, and where the
audit store holding remediation memory is (`EXECUTOR_MEMORY_*`, `settings.blocks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from orchestrator.settings.blocks import (
    AuditStoreSettings,
    ClusterConnectionSettings,
    function_names,
)
from orchestrator.settings.common import SenderIdentitySettings
from orchestrator.settings.files import FileSecretSettings

Mode = Literal["disabled", "observe", "dry-run", "approve", "auto", "off", "enforce"]
"""A level (`orchestrator.act.levels`) or an old mode alias; the policy's `Mode` mirrors it."""


class ExecutorSettings(FileSecretSettings, SenderIdentitySettings, AuditStoreSettings,
                       ClusterConnectionSettings):
    """What the executor needs: its policy, its identity, its keys and its cluster connection."""

    model_config = SettingsConfigDict(
        env_prefix="EXECUTOR_", extra="ignore", validate_by_name=True,
        alias_generator=function_names("EXECUTOR_", audit_word="MEMORY"))

    policy_file: Path | None = None
    """Policy YAML (the chart mounts it from a ConfigMap). None = the built-in default: dry-run
    mode, and in enforce mode only `delete_pod` and `rollout_restart` run without a human."""

    mode: Mode | None = None
    """Overrides the policy file's `mode`, the cluster default level (what `orchestrator up
    --enforce` sets; `off` and `enforce` are aliases of `disabled` and `auto`). None = the
    file's mode. The policy's per-namespace levels and kill switch still apply."""

    cluster_name: str | None = None
    """This cluster's name as the alerts' `cluster` label spells it. An alert carrying a
    different `cluster` label is refused; so is one carrying any `cluster` label while this is
    unset, because the executor then cannot tell whether the alert is about its own cluster.
    When set, an alert with no `cluster` label is refused too, unless the policy's
    `require_cluster_label` is false."""

    signing_key: SecretStr | None = None
    """This function's Ed25519 private key (PKCS#8 PEM), signing its results, escalations and
    approval requests (the latter also inside the request, over what a human is shown). Unset (and
    no `EXECUTOR_SIGNING_KEY_FILE`, where the chart mounts `executor.key` from its keys Secret) =
    nothing it emits verifies, so it refuses to emit."""

    public_keys_dir: Path | None = None
    """Folder of the other functions' Ed25519 public keys (`<function>.crt` certificates or `.pem`
    public keys; several per function while keys rotate). Proposals (the agent's), decisions (the
    console's) and its own requests are verified with them; without it every delivery is refused
    with 401."""

    event_max_age_seconds: float = Field(default=900.0, gt=0)
    """Freshness window of a delivered event's signed time, in seconds (15 min): older events are
    refused with 401 (the broker dead-letters them), so a captured event cannot be replayed later.
    Longer than the broker's retry schedule (about 16 s) and a scale-from-zero."""

    proposal_ttl_seconds: float = Field(default=900.0, gt=0)
    """How long a `plan.proposed` may be acted on after the agent signed it, in seconds (15 min): a
    replayed old proposal is refused whatever the budget says."""

    approval_ttl_seconds: float = Field(default=900.0, gt=0)
    """How long an approval request stays valid, in seconds (15 min): a human decision older
    than this is about a cluster that may have moved on, so the executor asks again."""

    clock_skew_seconds: float = Field(default=60.0, ge=0)
    """Tolerated clock difference between console and executor, in seconds, when judging
    whether an approval was decided in time (decisions from the future beyond it are refused)."""

    runbooks_dir: Path | None = None
    """Runbook folder the cited runbook's allowed actions are read from. None = the packaged
    runbooks (the same ones the chart ships in its ConfigMap)."""

    field_manager: str = "incident-orchestrator"
    """fieldManager recorded on every write, so `kubectl get -o yaml --show-managed-fields`
    (and audits) show who changed what."""

    budget_namespace: str = Field(
        default="incident-orchestrator",
        validation_alias=AliasChoices("EXECUTOR_BUDGET_NAMESPACE", "POD_NAMESPACE"),
    )
    """Namespace holding the per-target budget Leases: the executor's own (the chart sets
    POD_NAMESPACE from the downward API), so its Lease RBAC is one namespaced Role."""

    instance: str = Field(
        default="executor", validation_alias=AliasChoices("EXECUTOR_INSTANCE", "HOSTNAME")
    )
    """This replica's name, recorded as the holder of a budget Lease and as the reporting
    instance of Kubernetes Events (the Pod name in a cluster)."""

    max_body_bytes: int = Field(default=1024 * 1024, ge=4096)
    """Largest request body accepted, in bytes (1 MiB); a larger one is refused with 413 before
    it is read whole (`orchestrator.limits`). The loop's largest event is far smaller."""
