"""Secrets from mounted files: one rule (`PREFIX_X_FILE` names the file of secret field `x`) for
the pydantic-settings classes and for `LeanSettings`, so consumers read a plain `SecretStr`."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import PermanentError
from orchestrator.settings.agent import AgentSettings
from orchestrator.settings.common import reveal
from orchestrator.settings.console import ConsoleSettings
from orchestrator.settings.ingest import IngestSettings
from orchestrator.settings.knowledge import KnowledgeSettings


def secret_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secret"
    path.write_text(text)
    return path


def test_a_secret_comes_from_the_file_its_file_variable_names_stripped(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONSOLE_SLACK_BOT_TOKEN_FILE", str(secret_file(tmp_path, "xoxb-1\n")))
    monkeypatch.setenv("KB_MINIO_SECRET_KEY_FILE", str(tmp_path / "secret"))
    assert reveal(ConsoleSettings().slack_bot_token) == "xoxb-1"
    assert reveal(KnowledgeSettings.from_env().minio_secret_key) == "xoxb-1"
    env = {"INGEST_TOKEN_FILE": str(tmp_path / "secret")}
    assert reveal(IngestSettings.from_env(env).token) == "xoxb-1"


def test_an_aliased_secret_reads_its_prefixed_file_variable(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("AGENT_GEMINI_API_KEY_FILE", str(secret_file(tmp_path, "from-file")))
    assert reveal(AgentSettings.from_env().gemini_api_key) == "from-file"


def test_the_variable_itself_wins_and_an_empty_one_falls_back_to_the_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONSOLE_API_TOKEN_FILE", str(secret_file(tmp_path, "from-file")))
    monkeypatch.setenv("CONSOLE_API_TOKEN", "from-env")
    assert reveal(ConsoleSettings().api_token) == "from-env"
    monkeypatch.setenv("CONSOLE_API_TOKEN", "")
    assert reveal(ConsoleSettings().api_token) == "from-file"
    env = {"INGEST_TOKEN": "from-env", "INGEST_TOKEN_FILE": str(tmp_path / "secret")}
    assert reveal(IngestSettings.from_env(env).token) == "from-env"
    assert reveal(IngestSettings.from_env({**env, "INGEST_TOKEN": ""}).token) == "from-file"


def test_blank_secrets_and_empty_files_are_no_secret(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONSOLE_WEBHOOK_URL", "")
    monkeypatch.setenv("CONSOLE_API_TOKEN_FILE", str(secret_file(tmp_path, " \n")))
    settings = ConsoleSettings()
    assert settings.webhook_url is None and settings.api_token is None
    assert IngestSettings.from_env({"INGEST_TOKEN": ""}).token is None


def test_an_unreadable_named_file_is_a_configuration_error_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONSOLE_SIGNING_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(PermanentError, match="CONSOLE_SIGNING_KEY_FILE: cannot read secret file"):
        ConsoleSettings()
    with pytest.raises(PermanentError, match="INGEST_SIGNING_KEY_FILE: cannot read"):
        IngestSettings.from_env({"INGEST_SIGNING_KEY_FILE": str(tmp_path / "missing")})


def test_only_secret_fields_are_read_from_files(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONSOLE_SLACK_CHANNEL_FILE", str(secret_file(tmp_path, "C123")))
    assert ConsoleSettings().slack_channel is None
