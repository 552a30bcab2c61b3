"""The executor's reply events, built one way: deterministic ids, the top owner as partition key.

Every input gets exactly one reply whose id is derived from the input's id, so a redelivered
plan yields the same reply id (the audit log keeps one), and whose `partitionkey` is the
target's top owner, so the executor's ordered Trigger serializes work on one workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from orchestrator.envelope import Outgoing
from orchestrator.events import (
    ACTION_COMPLETED,
    ACTION_FAILED,
    APPROVAL_REQUESTED,
    ESCALATED,
    ActionCompleted,
    ActionFailed,
    Alert,
    ApprovalRequested,
    Escalated,
    EscalationReason,
)
from orchestrator.ids import event_id
from orchestrator.models import Frozen
from orchestrator.plan import ActionResult, Plan

if TYPE_CHECKING:
    from orchestrator.act.assess import Assessment
    from orchestrator.act.attempt import Applied
    from orchestrator.act.policy import Policy
    from orchestrator.provenance import Signer

STAGE = "executor"
MAX_DETAIL = 3900


@dataclass(frozen=True)
class Incoming:
    """What every input names: whose incident, which alert, which plan, which event."""

    incident_key: str
    alert: Alert
    plan: Plan
    event_id: str
    partition_hint: str | None = None
    """The input's own `partitionkey`: used only when the executor has not resolved a target."""


def results(found: Assessment, ran: dict[int, Applied]) -> list[ActionResult]:
    """One result per action that got anywhere: already done, dry-run, or written."""
    out = []
    for step in found.steps:
        applied = ran.get(step.index)
        if step.status == "done":
            out.append(ActionResult(action=step.action, outcome="already-applied",
                                    api_result=step.note))
        elif step.status == "failed":
            out.append(ActionResult(action=step.action, outcome="failed", api_result=step.note))
        elif applied is not None:
            out.append(applied.result(step))
    return out


def annotate(result: ActionResult, policy: Policy) -> ActionResult:
    """In dry-run mode, say what enforce mode would have done with this action."""
    if result.outcome != "dry-run":
        return result
    why = policy.needs_human(result.action.type)
    verdict = (f"in enforce mode this would wait for approval: {why}" if why
               else "in enforce mode this would run without a human")
    return result.model_copy(update={"api_result": verdict})


def completed(inc: Incoming, mode: Literal["enforce", "dry-run", "observe"],
              found: list[ActionResult], approver: str | None, pkey: str | None) -> Outgoing:
    return _out(inc, ACTION_COMPLETED, ActionCompleted(
        incident_key=inc.incident_key, alert=inc.alert, plan_id=inc.plan.plan_id, mode=mode,
        results=found, approver=approver), pkey)


def failed(inc: Incoming, mode: Literal["enforce", "dry-run"], found: list[ActionResult],
           error: str, pkey: str | None) -> Outgoing:
    return _out(inc, ACTION_FAILED, ActionFailed(
        incident_key=inc.incident_key, alert=inc.alert, plan_id=inc.plan.plan_id, mode=mode,
        results=found, error=error[:MAX_DETAIL]), pkey)


def escalate(inc: Incoming, reason: EscalationReason, detail: str,
             pkey: str | None = None) -> Outgoing:
    return _out(inc, ESCALATED, Escalated(
        incident_key=inc.incident_key, stage=STAGE, reason=reason, detail=detail[:MAX_DETAIL],
        alert=inc.alert, plan_id=inc.plan.plan_id), pkey)


def approval(inc: Incoming, *, signer: Signer, dry_runs: list[ActionResult],
             versions: dict[str, str], requested_at: datetime, expires_at: datetime, why: str,
             pkey: str | None) -> Outgoing:
    """The approval request, signed by the executor over everything the human will see."""
    from orchestrator.act.approval import signed_request

    request = signed_request(signer, ApprovalRequested(
        incident_key=inc.incident_key, alert=inc.alert, plan=inc.plan, dry_runs=dry_runs,
        resource_versions=versions, requested_at=requested_at, expires_at=expires_at,
        signature="", why=why[:MAX_DETAIL]))
    return _out(inc, APPROVAL_REQUESTED, request, pkey)


def _out(inc: Incoming, type_: str, data: Frozen, pkey: str | None) -> Outgoing:
    key = pkey or inc.partition_hint or (
        inc.plan.actions[0].target.key if inc.plan.actions else None)
    return Outgoing(type=type_, id=event_id(inc.incident_key, STAGE, inc.event_id),
                    function=STAGE, incident_key=inc.incident_key, data=data, partition_key=key)
