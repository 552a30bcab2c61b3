"""The settings base of the functions read with pydantic-settings (router, executor, console):
secrets from mounted files through the same rule `LeanSettings` follows.

One source, not a `*_file` twin per secret: for a secret field `x`, `PREFIX_X_FILE` names a file
whose stripped content is the value when `PREFIX_X` itself is unset or empty
(`orchestrator.settings.common.secrets_from_files`). Consumers read a plain `SecretStr | None`.
"""

from __future__ import annotations

import os
from typing import Any, Self

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from orchestrator.settings.common import SecretFields, input_key, secrets_from_files


class SecretFilesSource(PydanticBaseSettingsSource):
    """Secrets read from the files their `*_FILE` variables name."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is read at once in __call__

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in os.environ.items()}
        found = secrets_from_files(self.settings_cls, self.config.get("env_prefix") or "", env)
        # An aliased field validates by its alias only (no `validate_by_name`): give it that.
        fields = self.settings_cls.model_fields
        return {input_key(name, fields[name]): value for name, value in found.items()}


class FileSecretSettings(BaseSettings, SecretFields):
    """BaseSettings whose secrets may come from files: init arguments first, then the file a
    `*_FILE` variable names when the secret's own variable is empty, then the environment."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, SecretFilesSource(settings_cls), env_settings, dotenv_settings,
                file_secret_settings)

    @classmethod
    def from_env(cls) -> Self:
        """The settings as the environment gives them: how every settings class is read
        (`LeanSettings.from_env` too), so a caller need not know which kind it holds."""
        return cls()
