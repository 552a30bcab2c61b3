"""The executor refuses, whatever the plan says, an action that failed twice on the same workload
within 24 h (remediation memory in the audit store), and says so in its escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator import memory
from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.events import ACTION_COMPLETED, ESCALATED, Escalated
from tests.functional.executor_support import (
    Harness,
    action,
    crashloop,
    pod_alert,
    proposal,
    ref,
)

WORKLOAD = "shop/Deployment/checkout"


def _seed(harness: Harness, monkeypatch: pytest.MonkeyPatch, *hours_ago: float) -> None:
    folder = harness.tmp / "audit"
    monkeypatch.setenv("EXECUTOR_MEMORY_DIR", str(folder))
    store = LocalDirStore(folder)
    now = datetime.now(UTC)
    # The runbook the harness's proposals cite: memory is kept per (runbook, action, workload).
    outcomes = [memory.Outcome(runbook="mechanics_test", action="rollout_restart",
                               workload=WORKLOAD, alertname="KubePodCrashLooping",
                               incident_key=f"inc-{n}", result="failed",
                               at=now - timedelta(hours=h)) for n, h in enumerate(hours_ago)]
    for n, o in enumerate(outcomes):
        memory.remember(store, [o], event_id=f"verdict-{n}")


def _restart(harness: Harness):  # type: ignore[no-untyped-def]
    sc = crashloop(harness)
    p = proposal(pod_alert(sc["pod"]), action("rollout_restart",
                                              ref("Deployment", "checkout", "shop")))
    return harness.propose(p, event_id="evt-memory")


def test_twice_failed_within_a_day_is_refused_and_nothing_is_written(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(harness, monkeypatch, 1, 20)
    r = _restart(harness)
    assert r.status == 200 and r.type == ESCALATED
    assert isinstance(r.data, Escalated) and r.data.reason == "loop-guard"
    assert r.data.detail == (
        "plan plan-1 not acted on: rollout_restart on shop/Deployment/checkout failed 2 times "
        "within 24 h (incidents inc-0, inc-1): not again without a human")
    assert harness.workload_writes() == []
    assert [q for q in harness.api.requests if q.method == "PATCH"] == []


@pytest.mark.parametrize("hours_ago", [(1,), (1, 30)])
def test_one_failure_or_an_old_one_does_not_block(
        harness: Harness, monkeypatch: pytest.MonkeyPatch, hours_ago: tuple[float, ...]) -> None:
    _seed(harness, monkeypatch, *hours_ago)
    r = _restart(harness)
    assert r.status == 200 and r.type == ACTION_COMPLETED, r.data


def test_the_chart_gives_the_executor_the_audit_store_and_its_settings_read_it() -> None:
    from orchestrator.settings.executor import ExecutorSettings
    from tests.functional.helm_support import render
    from tests.functional.test_helm_chart_settings import env_names

    rendered = render("default")
    env = rendered.env("executor")
    assert env["EXECUTOR_MEMORY_ENDPOINT"] == rendered.env("console")["CONSOLE_AUDIT_ENDPOINT"]
    assert env["EXECUTOR_MEMORY_BUCKET"] == rendered.env("console")["CONSOLE_AUDIT_BUCKET"]
    assert env["EXECUTOR_MEMORY_SECRET_KEY_FILE"].endswith("minio-secret-key")
    fields = env_names(ExecutorSettings)
    assert {k for k in env if k.startswith("EXECUTOR_MEMORY_")} <= fields
