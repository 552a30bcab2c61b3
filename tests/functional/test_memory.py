"""Remediation memory: the console files each applied action's verified outcome per (runbook,
action, workload); the planner sees it and does not propose what failed twice within 24 h."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator import memory
from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.console import audit
from orchestrator.decide.gemini import sections
from orchestrator.decide.offline import plan_offline
from orchestrator.decide.situation import Escalation
from orchestrator.envelope import Outgoing
from orchestrator.events import ESCALATED, RESOLVED, Escalated, Resolved
from orchestrator.ids import event_id
from orchestrator.plan import Plan
from tests import incidents as inc
from tests.functional.console_support import DEPLOY, Story, received

NOW = datetime.now(UTC)


def _verdict(story: Story, *, failed: bool, how: str = "alert-cleared") -> Outgoing:
    if failed:
        data: Escalated | Resolved = Escalated(
            incident_key=story.key, stage="router", reason="verification-failed",
            detail="Deployment payments/checkout healthy; alert still firing after 180s",
            alert=story.alert, plan_id=story.plan.plan_id)
        kind = ESCALATED
    else:
        data = Resolved(incident_key=story.key, how=how, alert=story.alert,  # type: ignore[arg-type]
                        detail="alert cleared")
        kind = RESOLVED
    return Outgoing(type=kind, id=event_id(story.key, "router", "verdict"), function="router",
                    incident_key=story.key, data=data, partition_key=DEPLOY.key)


def _log(store: LocalDirStore, *outs: Outgoing) -> None:
    for out in outs:
        audit.write(store, received(out), now=NOW)


def test_a_failed_verification_is_remembered_per_runbook_action_and_workload(
        tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "audit")
    story = Story()
    _log(store, story.plan_proposed(), story.action_completed(), _verdict(story, failed=True))
    (o,) = memory.history(store, DEPLOY.key, since=NOW - timedelta(hours=1))
    assert (o.runbook, o.action, o.workload, o.result) == (
        "k8s_crashloop", "rollback", "payments/Deployment/checkout", "failed")
    assert (o.alertname, o.incident_key) == ("KubePodCrashLooping", story.key)
    assert "alert still firing" in o.detail


def test_verdict_logged_before_the_action_and_redelivered_is_remembered_once(
        tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "audit")
    story = Story(fingerprint="1111222233334444")
    verdict = _verdict(story, failed=False)
    _log(store, story.plan_proposed(), verdict)
    assert memory.history(store, DEPLOY.key, since=NOW - timedelta(hours=1)) == []
    _log(store, story.action_completed(), verdict, story.action_completed())
    (o,) = memory.history(store, DEPLOY.key, since=NOW - timedelta(hours=1))
    assert o.result == "cleared"


def test_only_verdicts_on_applied_actions_count(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "audit")
    story = Story(fingerprint="5555666677778888")
    # Alertmanager's `resolved` (no action judged) and another stage's escalation settle nothing.
    _log(store, story.plan_proposed(), story.action_completed(), story.resolved("alert-resolved"),
         story.escalated("policy"))
    assert memory.history(store, DEPLOY.key, since=NOW - timedelta(hours=1)) == []
    _log(store, _verdict(story, failed=False, how="verified-healthy"))
    (o,) = memory.history(store, DEPLOY.key, since=NOW - timedelta(hours=1))
    assert o.result == "healthy"


def _outcome(result: str, hours_ago: float, incident: str,
             action: str = "rollout_restart") -> memory.Outcome:
    return memory.Outcome(runbook="k8s_crashloop", action=action, workload=inc.DEPLOY.key,
                          alertname="KubePodCrashLooping", incident_key=incident,
                          result=result, at=inc.NOW - timedelta(hours=hours_ago))  # type: ignore[arg-type]


def test_the_offline_planner_skips_what_failed_twice_within_a_day() -> None:
    s = inc.situation(inc.crashloop(available=0), ("k8s_crashloop", 1.0))
    first = plan_offline(s)
    assert isinstance(first, Plan) and first.actions[0].type == "rollout_restart"

    once = replace(s, memory=(_outcome("failed", 2, "inc-a"), _outcome("cleared", 30, "inc-0")))
    again = plan_offline(once)
    assert isinstance(again, Plan) and again.actions[0].type == "rollout_restart"

    twice = replace(s, memory=(_outcome("failed", 2, "inc-b"), _outcome("failed", 20, "inc-a")))
    blocked = plan_offline(twice)  # the runbook's other actions do not apply here
    assert isinstance(blocked, Escalation) and blocked.reason == "no-applicable-action"
    assert ("rollout_restart: rollout_restart on payments/Deployment/checkout failed 2 times "
            "within 24 h (incidents inc-a, inc-b): not again without a human") in blocked.detail

    stale = replace(s, memory=(_outcome("failed", 2, "inc-b"), _outcome("failed", 25, "inc-a")))
    planned = plan_offline(stale)
    assert isinstance(planned, Plan) and planned.actions[0].type == "rollout_restart"


def test_the_llm_prompt_shows_the_history_and_the_block() -> None:
    s = inc.situation(inc.crashloop(available=0), ("k8s_crashloop", 1.0))
    s = replace(s, memory=(_outcome("failed", 1, "inc-c"), _outcome("failed", 3, "inc-b"),
                           _outcome("cleared", 48, "inc-a")))
    runbooks = sections(s, 1)["runbooks"]
    assert ("rollout_restart on payments/Deployment/checkout (runbook k8s_crashloop): 2 of the "
            "last 3 did not clear KubePodCrashLooping") in runbooks
    assert "failed 2 times within 24 h" in runbooks
