"""Blocks of settings several functions share, declared once: where the audit store is
(console, agent, executor) and how to reach the Kubernetes API (router, executor).

Mixin models, like `SenderIdentitySettings`: the fields land under each function's prefix
(`CONSOLE_AUDIT_ENDPOINT`, `AGENT_AUDIT_ENDPOINT`, `ROUTER_KUBECONFIG`). A class mixing in a block
names its variables with `function_names`, which adds the conventional unprefixed fallbacks
(`KUBECONFIG`, `KUBERNETES_SERVICE_HOST`) and keeps the executor's historical `EXECUTOR_MEMORY_*`
spelling of the audit store. `orchestrator.adapters.object_store.audit_store` and
`orchestrator.adapters.kube.connect_to` open what a block describes.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, AliasGenerator, BaseModel, Field, SecretStr


class AuditStoreSettings(BaseModel):
    """MinIO/S3 when `audit_endpoint` is set, else the local folder `audit_dir`, else none."""

    audit_dir: Path | None = None
    """Local folder of the audit log (the embedded default)."""

    audit_endpoint: str | None = None
    """MinIO/S3 `host:port` of the audit log; wins over `audit_dir` when set."""

    audit_access_key: str | None = None
    """Access key for the audit bucket (the console writes it; the agent writes its LLM claims
    and token ledger there; the executor only reads)."""

    audit_secret_key: SecretStr | None = None
    """Secret key for the audit bucket (or the file `..._SECRET_KEY_FILE` names)."""

    audit_bucket: str = Field(default="incident-audit")
    """Bucket the console writes the audit log to."""

    audit_secure: bool = False
    """HTTPS towards MinIO. Off by default: in-cluster MinIO usually serves plain HTTP."""

    audit_region: str | None = None
    """S3 region, when the server insists on one."""


class ClusterConnectionSettings(BaseModel):
    """In-cluster service account first (a Pod), else a kubeconfig, else no cluster."""

    in_cluster: bool = True
    """Try the Pod's service account first. Off = kubeconfig only (a function run outside the
    cluster it works on, with a kubeconfig for it)."""

    service_host: str | None = None
    """API server host inside a cluster: the kubelet sets `KUBERNETES_SERVICE_HOST` in every
    Pod, which is how the function knows it runs in one (not meant to be set by hand)."""

    service_port: str | None = None
    """API server port inside a cluster (`KUBERNETES_SERVICE_PORT`, set by the kubelet)."""

    service_account_dir: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount")
    """Where the Pod's service account token, CA and namespace are mounted (Kubernetes' own
    default path; changed only for tests)."""

    kubeconfig: str | None = None
    """Kubeconfig file(s), `:`-separated like kubectl's `KUBECONFIG`, used when not in a Pod;
    None = `~/.kube/config`. The prefixed variable (`ROUTER_KUBECONFIG`, `EXECUTOR_KUBECONFIG`)
    wins over the conventional `KUBECONFIG`, so a function can point at another cluster than
    the user's kubectl. A missing file is not an error: the function then runs without one."""

    kube_context: str | None = None
    """Kubeconfig context to use; None = the file's current context."""

    request_timeout_seconds: float = Field(default=10.0, gt=0)
    """Timeout of one Kubernetes API request, in seconds: a stalled API server becomes a retried
    delivery (5xx) well inside the function's Trigger timeout, not a hung function."""


#: The unprefixed variable each cluster field also reads, after the prefixed one.
_UNPREFIXED = {"kubeconfig": "KUBECONFIG", "service_host": "KUBERNETES_SERVICE_HOST",
               "service_port": "KUBERNETES_SERVICE_PORT"}


def function_names(prefix: str, *, audit_word: str = "AUDIT") -> AliasGenerator:
    """The variables of a function's settings class: `<prefix>` + the field's name, as without
    a generator, plus the blocks' unprefixed fallbacks; the audit block's `audit_x` is read
    from `<prefix><audit_word>_X` (the executor's `MEMORY`). A field's own `validation_alias`
    still wins. Use with `validate_by_name=True`, so code can still build the settings by
    field name (pydantic-settings then also reads `<prefix>` + the name, after the alias)."""

    def alias(name: str) -> AliasChoices:
        own = name
        if name in AuditStoreSettings.model_fields:
            own = f"{audit_word}_{name.removeprefix('audit_')}"
        fallback = [_UNPREFIXED[name]] if name in _UNPREFIXED else []
        return AliasChoices(f"{prefix}{own}".upper(), *fallback)

    return AliasGenerator(validation_alias=alias)
