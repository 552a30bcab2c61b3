"""Pieces every settings class shares: reading a secret from a value or a mounted file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, SecretStr

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
