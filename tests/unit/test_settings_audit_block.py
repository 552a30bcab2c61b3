"""The audit-store block is declared once and read under each function's names: `CONSOLE_AUDIT_*`,
`AGENT_AUDIT_*`, and the executor's historical `EXECUTOR_MEMORY_*`."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.adapters.objects import LocalDirStore, audit_store
from orchestrator.settings.agent import AgentSettings
from orchestrator.settings.common import reveal
from orchestrator.settings.console import ConsoleSettings
from orchestrator.settings.executor import ExecutorSettings


def test_each_function_reads_the_block_under_its_own_names(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    monkeypatch.setenv("EXECUTOR_MEMORY_ENDPOINT", "minio:9000")
    monkeypatch.setenv("EXECUTOR_MEMORY_SECRET_KEY_FILE", str(key))
    monkeypatch.setenv("EXECUTOR_AUDIT_BUCKET", "not-the-executor-name")
    monkeypatch.setenv("EXECUTOR_MODE", "observe")
    monkeypatch.setenv("AGENT_AUDIT_BUCKET", "agent-bucket")
    monkeypatch.setenv("CONSOLE_AUDIT_REGION", "eu-1")
    executor = ExecutorSettings()
    assert executor.audit_endpoint == "minio:9000" and reveal(executor.audit_secret_key) == "s3cret"
    assert executor.audit_bucket == "incident-audit" and executor.mode == "observe"
    assert AgentSettings().audit_bucket == "agent-bucket"
    assert ConsoleSettings().audit_region == "eu-1"


def test_the_block_opens_a_local_folder_or_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXECUTOR_MEMORY_DIR", str(tmp_path))
    store = audit_store(ExecutorSettings())
    assert isinstance(store, LocalDirStore)
    store.put("a/b.json", b"{}")
    assert (tmp_path / "a" / "b.json").read_bytes() == b"{}"
    assert audit_store(ConsoleSettings()) is None
