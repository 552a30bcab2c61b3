"""Pieces every settings class shares: reading a secret from a value or a mounted file, and the
sender identity fields of the functions the broker delivers to."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, SecretStr, model_validator

from orchestrator.errors import PermanentError


def secret_from(value: SecretStr | None, file: Path | None, *, name: str) -> str | None:
    """The secret's value from the variable itself, else from the file it names (a Secret mount).

    A named file that cannot be read is a configuration error, not "no secret": failing loudly
    keeps a typo from silently switching authentication off.
    """
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    if file is None:
        return None
    try:
        text = file.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise PermanentError(f"{name}: cannot read secret file {file}: {e.strerror}") from e
    return text or None


class LeanSettings(BaseModel):
    """Settings read from the environment without pydantic-settings.

    For ingest, whose cold start is measured against a bare hello-world function: importing and
    initialising pydantic-settings costs more than everything else ingest does at start. Same
    rules as the other settings classes: `env_prefix` + field name (any case), or a field's
    `validation_alias` choices, validated by pydantic.
    """

    model_config = ConfigDict(extra="ignore", validate_by_name=True)
    env_prefix: ClassVar[str] = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Self:
        env = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()}
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            names = [f"{cls.env_prefix}{name}".upper()]
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                names = [str(c).upper() for c in alias.choices]
            for candidate in names:
                if candidate in env:
                    values[name] = env[candidate]
                    break
        return cls.model_validate(values)


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
