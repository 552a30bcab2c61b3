"""The shared settings blocks are declared once and read under each function's names: the audit
store as `CONSOLE_AUDIT_*`, `AGENT_AUDIT_*` and the executor's historical `EXECUTOR_MEMORY_*`; the
cluster connection as `ROUTER_*`/`EXECUTOR_*` with the conventional unprefixed fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.adapters.object_store import LocalDirStore, audit_store
from orchestrator.settings.agent import AgentSettings
from orchestrator.settings.common import reveal
from orchestrator.settings.console import ConsoleSettings
from orchestrator.settings.executor import ExecutorSettings
from orchestrator.settings.router import RouterSettings


def test_each_function_reads_the_block_under_its_own_names(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    monkeypatch.setenv("EXECUTOR_MEMORY_ENDPOINT", "minio:9000")
    monkeypatch.setenv("EXECUTOR_MEMORY_SECRET_KEY_FILE", str(key))
    monkeypatch.setenv("EXECUTOR_AUDIT_BUCKET", "second-choice")
    monkeypatch.setenv("EXECUTOR_MEMORY_BUCKET", "memory-bucket")
    monkeypatch.setenv("EXECUTOR_MODE", "observe")
    monkeypatch.setenv("AGENT_AUDIT_BUCKET", "agent-bucket")
    monkeypatch.setenv("CONSOLE_AUDIT_REGION", "eu-1")
    executor = ExecutorSettings()
    assert executor.audit_endpoint == "minio:9000" and reveal(executor.audit_secret_key) == "s3cret"
    assert executor.audit_bucket == "memory-bucket" and executor.mode == "observe"
    assert AgentSettings.from_env().audit_bucket == "agent-bucket"
    assert ConsoleSettings().audit_region == "eu-1"


def test_the_block_opens_a_local_folder_or_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXECUTOR_MEMORY_DIR", str(tmp_path))
    store = audit_store(ExecutorSettings())
    assert isinstance(store, LocalDirStore)
    store.put("a/b.json", b"{}")
    assert (tmp_path / "a" / "b.json").read_bytes() == b"{}"
    assert audit_store(ConsoleSettings()) is None


def test_the_cluster_block_reads_the_prefixed_name_before_the_conventional_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/users/kubeconfig")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("ROUTER_KUBECONFIG", "/router/kubeconfig")
    monkeypatch.setenv("ROUTER_SERVICE_HOST", "10.9.9.9")
    monkeypatch.setenv("EXECUTOR_IN_CLUSTER", "false")
    monkeypatch.setenv("EXECUTOR_KUBE_CONTEXT", "prod")
    monkeypatch.setenv("POD_NAMESPACE", "loop")
    router, executor = RouterSettings(), ExecutorSettings()
    assert (router.kubeconfig, router.service_host, router.service_port) == (
        "/router/kubeconfig", "10.9.9.9", "443")
    assert (executor.kubeconfig, executor.service_host, executor.in_cluster) == (
        "/users/kubeconfig", "10.0.0.1", False)
    assert executor.kube_context == "prod" and router.kube_context is None
    # Code (and tests) still build the settings by field name.
    assert RouterSettings(kubeconfig="/k", max_pods=3).kubeconfig == "/k"
    assert ExecutorSettings(audit_bucket="b").audit_bucket == "b"
    assert executor.budget_namespace == "loop"  # a field's own aliases still win
