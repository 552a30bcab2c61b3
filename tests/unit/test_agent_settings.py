"""Agent settings: where the LLM keys come from, which provider plans, and that no key means no
LLM client."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.adapters.llm import GeminiLLM
from orchestrator.adapters.llm_openai import OpenAILLM
from orchestrator.decide.wiring import audit_store, language_model
from orchestrator.errors import PermanentError
from orchestrator.settings.agent import AgentSettings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AGENT_") or name in ("GEMINI_API_KEY", "GOOGLE_API_KEY",
                                                 "OPENAI_API_KEY", "OPENAI_BASE_URL",
                                                 "LLM_PROVIDER", "OPENAI_MODEL",
                                                 "OPENAI_API_VERSION"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = AgentSettings.from_env()
    assert s.model == "gemini-2.5-flash"
    assert s.reopen_window_seconds == 3600
    assert s.gemini_api_key is None
    assert language_model(s) is None
    assert audit_store(s) is None


def test_conventional_variable_and_agent_prefix_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "from-conventional")
    assert AgentSettings.from_env().gemini_api_key.get_secret_value() == "from-conventional"  # type: ignore[union-attr]
    monkeypatch.setenv("AGENT_GEMINI_API_KEY", "from-agent")
    assert AgentSettings.from_env().gemini_api_key.get_secret_value() == "from-agent"  # type: ignore[union-attr]


def test_key_file_builds_a_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("from-file\n")
    monkeypatch.setenv("AGENT_GEMINI_API_KEY_FILE", str(key))
    monkeypatch.setenv("AGENT_BASE_URL", "http://127.0.0.1:9")
    llm = language_model(AgentSettings.from_env())
    assert isinstance(llm, GeminiLLM) and llm.model == "gemini-2.5-flash"
    llm.close()


def test_unreadable_key_file_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("AGENT_GEMINI_API_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(PermanentError, match="AGENT_GEMINI_API_KEY"):
        language_model(AgentSettings.from_env())


def test_local_audit_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENT_AUDIT_DIR", str(tmp_path / "audit"))
    store = audit_store(AgentSettings.from_env())
    assert store is not None and store.list("fingerprints/") == []


def test_openai_provider_with_the_conventional_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-conventional")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://vllm:8000/v1")
    monkeypatch.setenv("AGENT_OPENAI_MODEL", "qwen2.5-7b-instruct")
    llm = language_model(AgentSettings.from_env())
    assert isinstance(llm, OpenAILLM) and llm.model == "qwen2.5-7b-instruct"
    assert str(llm.client.base_url) == "http://vllm:8000/v1/"
    assert llm.client.headers["authorization"] == "Bearer sk-conventional"
    llm.close()


def test_openai_provider_without_a_key_plans_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("AGENT_GEMINI_API_KEY", "a-gemini-key")  # the other provider's key
    assert language_model(AgentSettings.from_env()) is None


def test_the_gemini_provider_ignores_an_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ambient")
    assert AgentSettings.from_env().llm_provider == "gemini"
    assert language_model(AgentSettings.from_env()) is None


def test_unreadable_openai_key_file_is_a_configuration_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("AGENT_OPENAI_API_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(PermanentError, match="AGENT_OPENAI_API_KEY"):
        language_model(AgentSettings.from_env())


def test_an_unknown_provider_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("AGENT_LLM_PROVIDER", "anthropic")
    with pytest.raises(ValidationError, match="AGENT_LLM_PROVIDER"):
        AgentSettings.from_env()


def test_orchestrator_up_passes_the_unprefixed_names_to_the_agent(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`orchestrator up` drops the shell's AGENT_ variables: the conventional names choose."""
    import os

    from orchestrator.local.stack import Stack, StackOptions

    shell = {"LLM_PROVIDER": "openai", "OPENAI_API_KEY": "sk-local",
             "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1", "OPENAI_MODEL": "qwen2.5:7b",
             "AGENT_LLM_PROVIDER": "gemini"}
    for k, v in shell.items():
        monkeypatch.setenv(k, v)
    env = Stack(StackOptions(state=tmp_path / "state")).env_for("agent")
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    llm = language_model(AgentSettings.from_env())
    assert isinstance(llm, OpenAILLM) and llm.model == "qwen2.5:7b"
    assert str(llm.client.base_url) == "http://127.0.0.1:11434/v1/"
    llm.close()
