"""The audit-store block: where the audit log the console writes is, for every function that
reads or writes it (console, agent, executor), declared once.

A mixin model, like `SenderIdentitySettings`: the fields land under each function's prefix
(`CONSOLE_AUDIT_ENDPOINT`, `AGENT_AUDIT_ENDPOINT`). The executor has always spelled the block
`EXECUTOR_MEMORY_*` (it reads remediation memory from it); `memory_names` keeps that spelling.
`orchestrator.adapters.objects.audit_store` opens the store a block describes.
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


def memory_names(prefix: str) -> AliasGenerator:
    """The executor's variable names: the audit-store block's `audit_x` is read from
    `<prefix>MEMORY_X`; every other field from `<prefix>` + its name, as without a generator
    (a field's own `validation_alias` still wins)."""

    def alias(name: str) -> AliasChoices:
        if name in AuditStoreSettings.model_fields:
            return AliasChoices(f"{prefix}MEMORY_{name.removeprefix('audit_')}".upper())
        return AliasChoices(f"{prefix}{name}".upper())

    return AliasGenerator(validation_alias=alias)
