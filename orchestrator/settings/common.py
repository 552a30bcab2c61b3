"""Pieces every settings class shares: the rule that reads a secret from a mounted file, the
lean reader for the functions whose cold start cannot pay for pydantic-settings, and the sender
identity fields of the functions the broker delivers to.

Kept free of pydantic-settings: ingest, telemetry and the agent import it at start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, SecretStr, model_validator
from pydantic.fields import FieldInfo

from orchestrator.errors import PermanentError


def read_secret_file(file: Path, *, name: str) -> str | None:
    """A mounted secret's stripped content (None when empty).

    A named file that cannot be read is a configuration error, not "no secret": failing loudly
    keeps a typo from silently switching authentication off.
    """
    try:
        text = file.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise PermanentError(f"{name}: cannot read secret file {file}: {e.strerror}") from e
    return text or None


def reveal(secret: SecretStr | None) -> str | None:
    """A secret setting's value, None when unset or blank."""
    return (secret.get_secret_value() or None) if secret is not None else None


def env_names(prefix: str, name: str, field: FieldInfo) -> list[str]:
    """The variables a field is read from, upper case: its `validation_alias` choices, else
    `prefix` + its name (pydantic-settings' rule, which `LeanSettings` follows too)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c).upper() for c in alias.choices]
    if isinstance(alias, str):
        return [alias.upper()]
    return [f"{prefix}{name}".upper()]


def input_key(name: str, field: FieldInfo) -> str:
    """The key a field's value is validated under: its (first) `validation_alias`, else its name,
    so a bad value's error names the variable it came from (`AGENT_LLM_PROVIDER`)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return alias if isinstance(alias, str) else name


def is_secret(field: FieldInfo) -> bool:
    """A `SecretStr` field (or `SecretStr | None`): one that may come from a mounted file."""
    return any(t is SecretStr for t in (field.annotation, *get_args(field.annotation)))


def secrets_from_files(model: type[BaseModel], prefix: str,
                       environ: Mapping[str, str]) -> dict[str, str | None]:
    """The one rule for secrets in files, for every settings class: a secret field with no
    non-empty value of its own is read from the file named by its variable + `_FILE` (its first
    variable when it has several: `PREFIX_X_FILE`), a Secret mount. `environ` has upper-case
    keys."""
    found: dict[str, str | None] = {}
    for name, field in model.model_fields.items():
        names = env_names(prefix, name, field)
        if not is_secret(field) or any(environ.get(n) for n in names):
            continue
        var = f"{names[0]}_FILE"
        if environ.get(var):
            found[name] = read_secret_file(Path(environ[var]), name=var)
    return found


class SecretFields(BaseModel):
    """A blank secret is no secret: consumers test `if s.x` on a plain `SecretStr | None`."""

    @model_validator(mode="before")
    @classmethod
    def _blank_is_none(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {k: None if v == "" and k in cls.model_fields and is_secret(cls.model_fields[k])
                else v for k, v in data.items()}


class LeanSettings(SecretFields):
    """Settings read from the environment without pydantic-settings.

    For the functions whose cold start is measured against a bare hello-world function (ingest,
    the agent and its knowledge base): importing pydantic-settings alone costs more than
    everything else ingest does at start, and each of its reads walks every source for every
    field. Same rules as the other settings classes: `env_prefix` + field name (any case), or a
    field's `validation_alias` choices (the first one set wins), validated by pydantic; a secret
    `x` from the file `PREFIX_X_FILE` names (`secrets_from_files`). Every field is a scalar:
    nothing is decoded from JSON, as pydantic-settings would for a list or a model.
    Read with `from_env()`; the constructor takes values only, as any model's does.
    """

    # validate_default: a default out of its own bounds fails, as pydantic-settings makes it.
    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_default=True)
    env_prefix: ClassVar[str] = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Self:
        env = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()}
        values: dict[str, Any] = dict(secrets_from_files(cls, cls.env_prefix, env))
        for name, field in cls.model_fields.items():
            if name in values:
                continue
            for candidate in env_names(cls.env_prefix, name, field):
                if candidate in env:
                    values[name] = env[candidate]
                    break
        fields = cls.model_fields
        return cls.model_validate({input_key(name, fields[name]): value
                                   for name, value in values.items()})


class SenderIdentitySettings(BaseModel):
    """Knative's sender identity (OIDC), verified as defence in depth beside the event
    signatures: the same fields, under each function's own prefix (`ROUTER_OIDC_AUDIENCE`...).
    Off unless `oidc_audience` is set."""

    oidc_audience: str | None = None
    """The audience a delivery's `Authorization: Bearer` token must be issued for: the one the
    Trigger names as `subscriber.audience` (the chart uses Knative's form for a Service,
    `serving.knative.dev/service/<namespace>/<name>`). Unset = not checked (the default, and
    the local stack, whose broker sends no token). Set = a delivery without a valid token for
    it is refused with 401 before its body is read."""

    oidc_issuer: str | None = None
    """The `iss` a token must carry: the cluster's service-account issuer
    (`kubectl get --raw /.well-known/openid-configuration`, field `issuer`). Required with an
    audience."""

    oidc_jwks_url: str | None = None
    """Where the issuer's public keys are (JWKS). Unset = the `jwks_uri` of
    `<issuer>/.well-known/openid-configuration`. In a cluster whose issuer URL is not
    reachable from pods, `https://kubernetes.default.svc/openid/v1/jwks`."""

    oidc_ca_file: Path | None = None
    """CA bundle for fetching the keys (in a cluster: the service account's `ca.crt`). Unset =
    the system's trust store."""

    oidc_token_file: Path | None = None
    """A bearer token presented when fetching the keys (the pod's own service-account token:
    the API server serves its issuer's keys to authenticated service accounts only)."""

    @model_validator(mode="after")
    def _issuer_with_audience(self) -> Self:
        if self.oidc_audience and not self.oidc_issuer:
            raise ValueError("oidc_audience is set but oidc_issuer is not: a token's issuer "
                             "must be checked along with its audience")
        return self
