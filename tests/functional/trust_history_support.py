"""A recorded history for the trust report, with known numbers, written through the real audit
writer: every event built from the real models by `Story`, retargeted per workload.

| namespace | workload                        | incidents | what happened                      |
|-----------|---------------------------------|-----------|------------------------------------|
| shop      | shop/Deployment/cart            | 4         | dry-run rollout_restart each time  |
| payments  | payments/Deployment/checkout    | 3         | approval asked 3×: 2 approved and  |
|           |                                 |           | applied (1 cleared, 1 not), 1      |
|           |                                 |           | rejected                           |
| payments  | payments/Deployment/ledger      | 3         | refused: policy 2, budget 1        |
| payments  | (no target)                     | 1         | escalated: no runbook              |

Not counted: a test alert in shop, and a shop incident from 40 days ago.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.console import audit
from orchestrator.context import ObjectRef
from orchestrator.envelope import Outgoing, decode
from orchestrator.events import (
    ACTION_COMPLETED,
    ALERT_RECEIVED,
    PLAN_APPROVED,
    PLAN_REJECTED,
    ActionCompleted,
    AlertReceived,
    ApprovalRequested,
    PlanApproved,
    PlanRejected,
)
from orchestrator.ids import event_id
from orchestrator.plan import Action, ActionResult
from tests.functional.console_support import APPROVER, Story, wire


class Case:
    """One incident on one workload, its events in loop order."""

    def __init__(self, n: int, namespace: str, name: str | None, action: str,
                 start: datetime) -> None:
        self.story = Story(fingerprint=f"{n:016x}", start=start, namespace=namespace)
        self.ref = ObjectRef(kind="Deployment", name=name or "none", namespace=namespace,
                             uid=f"uid-{name}")
        self.story.plan = self.story.plan.model_copy(update={"actions": [
            Action(type=action, target=self.ref, reason="evidence")]})  # type: ignore[arg-type]
        self.events: list[Outgoing] = [self.story.alert_received()]

    def _pk(self, out: Outgoing) -> Outgoing:
        return dataclasses.replace(out, partition_key=self.ref.key)

    def plan(self) -> Case:
        self.events.append(self._pk(self.story.plan_proposed()))
        return self

    def dry_run(self) -> Case:
        done = self.story.action_completed(approver=None)
        data = done.data.model_copy(update={"mode": "dry-run", "results": [ActionResult(
            action=self.story.plan.actions[0], outcome="dry-run", dry_run="ok")]})
        self.events.append(self._pk(dataclasses.replace(done, data=data)))
        self.events.append(self.story.escalated("dry-run", "executor", "dry-run mode"))
        return self

    def ask(self) -> Case:
        self.events.append(self._pk(self.story.approval_requested(
            requested_at=self.story.start + timedelta(seconds=5))))
        return self

    def decide(self, approve: bool) -> Case:
        req = self.events[-1].data
        assert isinstance(req, ApprovalRequested)
        model = PlanApproved if approve else PlanRejected
        data = model(incident_key=req.incident_key, alert=req.alert, plan=req.plan,
                     dry_runs=req.dry_runs, resource_versions=req.resource_versions,
                     requested_at=req.requested_at, expires_at=req.expires_at,
                     why=req.why, executor_signature=req.signature,
                     approver=APPROVER, decided_at=req.requested_at + timedelta(minutes=1),
                     console_signature="ed25519:console/0:" + "A" * 88)
        kind = PLAN_APPROVED if approve else PLAN_REJECTED
        self.events.append(Outgoing(type=kind, id=event_id(self.story.key, "console", kind),
                                    function="console", incident_key=self.story.key, data=data,
                                    partition_key=self.ref.key))
        if not approve:
            self.events.append(self.story.escalated("approval-rejected", "executor", "no"))
        return self

    def apply(self, cleared: bool) -> Case:
        done = self.story.action_completed()
        assert done.type == ACTION_COMPLETED and isinstance(done.data, ActionCompleted)
        self.events.append(self._pk(done))
        self.events.append(self.story.resolved("alert-cleared") if cleared else
                           self.story.escalated("verification-failed", "router", "still"))
        return self

    def escalate(self, reason: str, stage: str = "executor") -> Case:
        self.events.append(self.story.escalated(reason, stage, reason))
        return self

    def test_alert(self) -> Case:
        first = self.events[0]
        assert first.type == ALERT_RECEIVED and isinstance(first.data, AlertReceived)
        self.events[0] = dataclasses.replace(first, data=first.data.model_copy(
            update={"test": True}))
        return self


def cases(now: datetime) -> list[Case]:
    t = now - timedelta(days=2)
    out = [Case(i, "shop", "cart", "rollout_restart", t + timedelta(hours=i)).plan().dry_run()
           for i in range(1, 5)]
    out += [Case(10, "payments", "checkout", "rollback", t).plan().ask().decide(True)
            .apply(cleared=True),
            Case(11, "payments", "checkout", "rollback", t + timedelta(hours=1)).plan().ask()
            .decide(True).apply(cleared=False),
            Case(12, "payments", "checkout", "rollback", t + timedelta(hours=2)).plan().ask()
            .decide(False)]
    out += [Case(20 + i, "payments", "ledger", "rollout_restart", t + timedelta(hours=i))
            .plan().escalate(reason) for i, reason in enumerate(("policy", "budget", "policy"))]
    out.append(Case(30, "payments", None, "rollout_restart", t).escalate("no-runbook", "agent"))
    out.append(Case(40, "shop", "cart", "rollout_restart", t).test_alert().plan().dry_run())
    out.append(Case(41, "shop", "cart", "rollout_restart", now - timedelta(days=40)).plan()
               .dry_run())
    return out


def record(store: ObjectStore, now: datetime | None = None) -> list[Case]:
    now = now or datetime.now(UTC)
    found = cases(now)
    for case in found:
        for i, out in enumerate(case.events):
            at = case.story.start + timedelta(seconds=10 * i)
            audit.write(store, decode(*wire(out, at)), now=at)
    return found
