"""Before any write: is each action allowed, already done, or refused, as the cluster is now.

Cheap checks (policy, runbook, kind, namespace) run first and stop an action before its target
is even read, so a plan naming an object in a denied namespace never touches that namespace.
Then the executor looks for its own traces (a budget entry, the plan annotation, a deleted
target its entry explains): a redelivered plan is reported as already applied, never repeated.
Last, what is still to do must be licensed by the cited runbook's `when`, on facts the executor
read itself (`evidence`): nothing the event says about the cluster is taken as true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from orchestrator.act.checks import (
    cluster_refusals,
    plan_refusals,
    runbook_refusal,
    static_refusals,
)
from orchestrator.act.lease_budget import Entry, LeaseBudget
from orchestrator.act.policy import Policy
from orchestrator.act.targets import Resolved, alerted_refs, resolve
from orchestrator.act.writes import applied_by
from orchestrator.adapters.kube_errors import KubeError
from orchestrator.adapters.kube_reads import KubeReads
from orchestrator.adapters.kube_writes import KubeWrites
from orchestrator.events import Alert
from orchestrator.knowledge.runbook import Runbook
from orchestrator.plan import Action, Plan

Status = Literal["pending", "done", "failed", "refused"]
DELETES = ("delete_pod", "delete_failed_job")


@dataclass
class Step:
    """One action of the plan, and what the executor found out about it."""

    index: int
    action: Action
    status: Status = "pending"
    reasons: list[str] = field(default_factory=list)
    target: Resolved | None = None
    note: str = ""

    def refuse(self, *reasons: str) -> None:
        self.status = "refused"
        self.reasons += reasons

    def done(self, note: str) -> None:
        self.status = "done"
        self.note = note

    def fail(self, note: str) -> None:
        self.status = "failed"
        self.note = note


@dataclass
class Assessment:
    plan_reasons: list[str]
    steps: list[Step]
    alerted: list[Resolved] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.plan_reasons) or any(s.status == "refused" for s in self.steps)

    @property
    def pending(self) -> list[Step]:
        return [s for s in self.steps if s.status == "pending"]

    def reasons(self) -> list[str]:
        out = list(self.plan_reasons)
        for s in self.steps:
            out += [f"action {s.index + 1} ({s.action.type} {s.action.target.key}): {r}"
                    for r in s.reasons]
        return out

    def partition_key(self) -> str | None:
        """The first target's top owner, as the cluster says; else the target as named."""
        for s in self.steps:
            if s.target is not None:
                return s.target.top.key
        return self.steps[0].action.target.key if self.steps else None


def assess(kube: KubeWrites, *, reads: KubeReads | None, policy: Policy, budget: LeaseBudget,
           incident_key: str, alert: Alert, plan: Plan, cluster_name: str | None,
           runbooks: dict[str, Runbook], now: datetime) -> Assessment:
    steps = [Step(i, a) for i, a in enumerate(plan.actions)]
    result = Assessment(plan_refusals(incident_key=incident_key, alert=alert, plan=plan,
                                      cluster_name=cluster_name,
                                      require_cluster_label=policy.require_cluster_label), steps)
    for step in steps:
        step.reasons += static_refusals(step.action, policy=policy)
        why = runbook_refusal(step.action, plan, runbooks)
        if why:
            step.reasons.append(why)
        if step.reasons:
            step.status = "refused"
    if result.plan_reasons:
        return result  # maybe not even this cluster's incident: read nothing more
    result.alerted = _alerted(kube, alert)
    if result.refused:
        return result
    mine = budget.find(plan.plan_id)
    for step in steps:
        _inspect(kube, step, plan_id=plan.plan_id, entry=mine.get(step.index),
                 alerted=result.alerted, policy=policy)
    if result.pending:
        _licence(reads, result, plan=plan, runbooks=runbooks, alert=alert, now=now)
    return result


def _licence(reads: KubeReads | None, result: Assessment, *, plan: Plan,
             runbooks: dict[str, Runbook], alert: Alert, now: datetime) -> None:
    """Refuse each pending step whose runbook `when` does not hold on the executor's own reads
    (steps already done are reported as such: they write nothing)."""
    # Imported here: the router's gathering code is only needed once a plan reaches this point
    # (a refused or gated plan, and the health check, do not pay for it at cold start).
    from orchestrator.act import evidence

    if reads is None:
        for step in result.pending:
            step.refuse("the executor has no read access to the cluster, so it cannot check "
                        "the runbook's conditions itself")
        return
    found = evidence.gather(reads, alert, now=now)
    for step in result.pending:
        reasons = evidence.licence_refusals(step.action, plan=plan, runbooks=runbooks,
                                            evidence=found)
        if reasons:
            step.refuse(*reasons)


def refresh(kube: KubeWrites, step: Step, *, plan_id: str, entry: Entry | None,
            alerted: list[Resolved], policy: Policy) -> None:
    """Re-read a step's target after a 409 and check it again (the write is retried once).
    `entry` is the budget slot this plan holds for the step, if it took one."""
    step.status, step.reasons, step.target = "pending", [], None
    _inspect(kube, step, plan_id=plan_id, entry=entry, alerted=alerted, policy=policy)


def _alerted(kube: KubeWrites, alert: Alert) -> list[Resolved]:
    found = []
    for ref in alerted_refs(alert):
        try:
            obj = resolve(kube, ref)
        except KubeError:
            continue  # unreadable alerted object: its chain simply cannot vouch for a target
        if obj is not None:
            found.append(obj)
    return found


def _inspect(kube: KubeWrites, step: Step, *, plan_id: str, entry: Entry | None,
             alerted: list[Resolved], policy: Policy) -> None:
    action = step.action
    if entry is not None and entry.state == "applied":
        step.done(f"already applied by plan {plan_id} at {entry.at.isoformat()}")
        return
    if entry is not None and entry.state == "failed":
        step.fail(f"plan {plan_id} already tried this at {entry.at.isoformat()} and failed")
        return
    try:
        target = resolve(kube, action.target)
    except KubeError as e:
        step.refuse(f"cannot read {action.target.key}: {e.message}")
        return
    if target is None:
        if entry is not None and action.type in DELETES:
            step.done(f"{action.target.key} is gone: deleted by plan {plan_id}")
        else:
            step.refuse(f"{action.target.key} does not exist")
        return
    step.target = target
    if applied_by(target) == plan_id:
        step.done(f"{target.ref.key} carries this plan's mark: already applied")
        return
    try:
        reasons = cluster_refusals(action, target=target, alerted=alerted, kube=kube,
                                   policy=policy)
    except KubeError as e:
        reasons = [f"cannot check {action.target.key}: {e.message}"]
    if reasons:
        step.refuse(*reasons)
