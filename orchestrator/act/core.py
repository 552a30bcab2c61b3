"""The executor's decisions: from a plan (or a human's decision on one) to exactly one reply.

plan.proposed → not expired → checks → the runbook's `when` on the executor's own reads →
budget → server-side dry run of every action →
then, by the level of the plan's strictest target (`levels.py`): at `observe`, before any dry
run, `action.completed` with "would do" records (`shadow.py`); `action.completed` with the
dry-run record (dry-run);
`approval.requested`, signed (a human must approve); write, Event, `action.completed` /
`action.failed` (approve, auto).
Anything refused → `escalated`, with every reason. plan.approved → signatures, allowlist,
freshness → the same path with the human's blessing, or asked again when the approval is stale
or the target moved since its dry run. A plan already applied is reported, never repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from orchestrator.act import remediation_events, replies, shadow
from orchestrator.act.approval import check_decision, check_proposal
from orchestrator.act.assess import Assessment, Step, assess
from orchestrator.act.attempt import Applied, apply_step, dry_run_step
from orchestrator.act.lease_budget import LeaseBudget
from orchestrator.act.levels import as_level
from orchestrator.act.policy import Mode, Policy
from orchestrator.act.remembered import refusal
from orchestrator.act.replies import Incoming
from orchestrator.act.targets import same_object
from orchestrator.adapters.kube_reads import KubeReads
from orchestrator.adapters.kube_writes import KubeWrites
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.context import ObjectRef
from orchestrator.envelope import Outgoing
from orchestrator.events import PlanApproved, PlanProposed, PlanRejected
from orchestrator.knowledge.runbook import Runbook
from orchestrator.provenance import Keyring, Signer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Executor:
    """Everything one executor process decides with: its policy, keys, cluster and clock."""

    kube: KubeWrites | None
    policy: Policy
    mode: Mode
    cluster_name: str | None
    signer: Signer | None
    """The executor's private key: signs what it emits and what it asks a human."""
    keyring: Keyring
    """The public keys it verifies deliveries, its own requests and decisions with."""
    runbooks: Callable[[], dict[str, Runbook]]
    budget_namespace: str
    instance: str
    approval_ttl: timedelta
    clock_skew: timedelta
    clock: Callable[[], datetime]
    policy_error: str | None = None
    proposal_ttl: timedelta = timedelta(minutes=15)
    memory: ObjectStore | None = None
    """The audit store's remediation memory (`remembered.py`); None: not checked."""
    reads: KubeReads | None = None
    """The executor's own reads, for the facts a runbook's `when` needs (None: every plan is
    refused, since nothing it claims can be checked)."""


def on_proposed(ex: Executor, inc: Incoming, proposed: PlanProposed, *,
                signed_at: datetime) -> Outgoing:
    why = check_proposal(proposed, signed_at=signed_at, ttl=ex.proposal_ttl,
                         skew=ex.clock_skew, now=ex.clock())
    if why is not None:
        log.warning("not acting on proposal %s of %s: %s", inc.event_id, inc.incident_key, why)
        return replies.escalate(inc, "policy", f"plan {inc.plan.plan_id} not acted on: {why}")
    return _run(ex, inc)


def on_approved(ex: Executor, inc: Incoming, decision: PlanApproved) -> Outgoing:
    gate = _gate(ex, inc)
    if gate is not None:
        return gate
    verdict = check_decision(decision, outcome="approved", keyring=ex.keyring,
                             policy=ex.policy, ttl=ex.approval_ttl,
                             skew=ex.clock_skew, now=ex.clock())
    if verdict.status == "invalid":
        log.warning("not acting on approval of plan %s: %s", inc.plan.plan_id, verdict.why)
        return replies.escalate(inc, "approval-invalid", f"approval not acted on: {verdict.why}")
    if verdict.status == "stale":
        return _run(ex, inc, ask_why=f"asked again: {verdict.why}")
    return _run(ex, inc, approver=decision.approver,
                approved_versions=dict(decision.resource_versions))


def on_rejected(ex: Executor, inc: Incoming, decision: PlanRejected) -> Outgoing:
    verdict = check_decision(decision, outcome="rejected", keyring=ex.keyring,
                             policy=ex.policy, ttl=ex.approval_ttl,
                             skew=ex.clock_skew, now=ex.clock())
    if verdict.status == "invalid":
        return replies.escalate(inc, "approval-invalid", "a rejection arrived that does not "
                                f"verify ({verdict.why}); nothing was done either way")
    comment = f": {decision.comment}" if decision.comment else ""
    return replies.escalate(inc, "approval-rejected", f"rejected by {decision.approver}{comment}")


def _gate(ex: Executor, inc: Incoming) -> Outgoing | None:
    if ex.policy_error is not None:
        return replies.escalate(inc, "policy", f"the executor's policy is invalid, so nothing "
                                f"runs: {ex.policy_error}")
    if ex.policy.kill_switch:
        return replies.escalate(inc, "policy", "the policy's kill switch is on: no action is "
                                "taken")
    if as_level(ex.mode) == "disabled" and not ex.policy.namespaces.levels:
        return replies.escalate(inc, "policy", "executor mode is off: no action is taken")
    if ex.kube is None:
        return replies.escalate(inc, "dependency", "no Kubernetes cluster is configured: the "
                                "executor can neither check nor act")
    return None


def _run(ex: Executor, inc: Incoming, *, approver: str | None = None,
         approved_versions: dict[str, str] | None = None, ask_why: str = "") -> Outgoing:
    gate = _gate(ex, inc)
    if gate is not None:
        return gate
    assert ex.kube is not None
    kube, plan, now = ex.kube, inc.plan, ex.clock()
    if ex.mode != ex.policy.mode:  # EXECUTOR_MODE replaces the policy's cluster default
        ex = replace(ex, policy=ex.policy.model_copy(update={"mode": ex.mode}))
    budget = LeaseBudget(kube, namespace=ex.budget_namespace, holder=ex.instance,
                         policy=ex.policy.budget)
    found = assess(kube, reads=ex.reads, policy=ex.policy, budget=budget,
                   incident_key=inc.incident_key, alert=inc.alert, plan=plan,
                   cluster_name=ex.cluster_name, runbooks=ex.runbooks(), now=now)
    pkey = found.partition_key()
    if found.refused:
        return _refused(ex, inc, found, pkey, now)
    if (remembered := refusal(ex.memory, plan=plan, workload=pkey, now=now)) is not None:
        return replies.escalate(inc, "loop-guard", remembered, pkey)
    scope = shadow.plan_level(kube, ex.policy, found)
    level = scope.level
    if level == "disabled":
        return replies.escalate(inc, "policy", f"automation is off here: {scope.describe()}",
                                pkey)
    if level != "dry-run":
        held = _hold_for_budget(found, budget, plan.plan_id, now)
        if held:
            return replies.escalate(inc, "budget", held, pkey)
    if not found.pending:
        return _finished(inc, found, {}, approver, pkey)
    if level == "observe":  # nothing executed, not even a dry run: RBAC may be read-only
        return shadow.would_do(inc, found, ex.policy, scope, pkey)
    approved = approved_versions is not None
    dry = {s.index: dry_run_step(kube, s, plan_id=plan.plan_id, alerted=found.alerted,
                                 policy=ex.policy, now=now, approved=approved)
           for s in found.pending}
    problem = _dry_run_problem(ex, inc, found, dry, pkey, dry_only=level == "dry-run")
    if problem is not None:
        return problem
    if level == "dry-run":
        results = [replies.annotate(r, ex.policy) for r in replies.results(found, dry)]
        return replies.completed(inc, "dry-run", results, approver, pkey)
    if approved_versions is not None:
        moved = _moved(found, approved_versions)
        if moved:
            return _ask(ex, inc, found, dry, pkey, f"asked again: {moved}")
    else:
        why = [w for s in found.pending if (w := ex.policy.needs_human(s.action.type))]
        if level == "approve" and not why:
            why = [f"every action needs a human at {scope.describe()}"]
        if ask_why or why:
            return _ask(ex, inc, found, dry, pkey, "; ".join([ask_why, *why]).strip("; "))
    return _enforce(ex, inc, found, budget, dry, approver, pkey, now)


def _hold_for_budget(found: Assessment, budget: LeaseBudget, plan_id: str, now: datetime) -> str:
    """Refuse early when the budget is spent; mark steps another plan just did as done."""
    for step in found.pending:
        assert step.target is not None
        slot = budget.peek(step.target.top, plan_id=plan_id, index=step.index, now=now)
        if slot.status == "spent":
            return f"{step.target.top.key}: {slot.detail}"
        if slot.status == "settling":
            if slot.entry is not None and slot.entry.action == step.action.type:
                step.done(f"not repeated: {slot.detail}")
            else:
                return f"{step.target.top.key}: {slot.detail}"
    return ""


def _dry_run_problem(ex: Executor, inc: Incoming, found: Assessment, dry: dict[int, Applied],
                     pkey: str | None, *, dry_only: bool) -> Outgoing | None:
    refused = [a.detail for a in dry.values() if a.outcome == "refused"]
    if refused:
        return replies.escalate(inc, "policy", "refused at dry run: " + "; ".join(refused),
                                pkey)
    stale = [a.detail for a in dry.values() if a.outcome == "stale"]
    if stale:
        return _run(ex, inc, ask_why="asked again: " + "; ".join(stale))
    failed = [a.detail for a in dry.values() if a.outcome == "failed"]
    if failed:
        return replies.failed(inc, "dry-run" if dry_only else "enforce",
                              replies.results(found, dry),
                              "dry run failed: " + "; ".join(failed), pkey)
    return None


def _enforce(ex: Executor, inc: Incoming, found: Assessment, budget: LeaseBudget,
             dry: dict[int, Applied], approver: str | None, pkey: str | None,
             now: datetime) -> Outgoing:
    assert ex.kube is not None
    done: dict[int, Applied] = {}
    for step in found.pending:
        applied = apply_step(ex.kube, step, budget=budget, plan_id=inc.plan.plan_id,
                             incident_key=inc.incident_key, alerted=found.alerted,
                             policy=ex.policy, now=now, approved=approver is not None,
                             dry=dry[step.index])
        done[step.index] = applied
        _record(ex, inc, step, applied, approver, now)
        if applied.outcome not in ("applied", "already-applied"):
            break  # one failure stops the plan: later actions assumed the earlier ones
    if all(a.outcome == "stale" for a in done.values()):
        return _run(ex, inc, ask_why="asked again: " + "; ".join(a.detail for a in done.values()))
    if all(a.outcome == "budget" for a in done.values()):
        return replies.escalate(inc, "budget", "; ".join(a.detail for a in done.values()), pkey)
    return _finished(inc, found, done, approver, pkey)


def _finished(inc: Incoming, found: Assessment, done: dict[int, Applied],
              approver: str | None, pkey: str | None) -> Outgoing:
    results = replies.results(found, done)
    bad = [a.detail for a in done.values() if a.outcome not in ("applied", "already-applied")]
    bad += [s.note for s in found.steps if s.status == "failed"]
    if bad:
        return replies.failed(inc, "enforce", results, "; ".join(bad), pkey)
    return replies.completed(inc, "enforce", results, approver, pkey)


def _record(ex: Executor, inc: Incoming, step: Step, applied: Applied, approver: str | None,
            now: datetime) -> None:
    assert ex.kube is not None and step.target is not None
    reason: remediation_events.Reason
    if applied.outcome == "applied":
        reason = "Remediated"
    elif applied.outcome in ("failed", "refused"):
        reason = "RemediationFailed"
    else:
        return
    who = f", approved by {approver}" if approver else ""
    remediation_events.record(
        ex.kube, target=step.target.ref, reason=reason,
        message=f"{step.action.type} by plan {inc.plan.plan_id} (incident "
                f"{inc.incident_key}{who}): {applied.detail}",
        action=step.action.type, plan_id=inc.plan.plan_id, incident_key=inc.incident_key,
        index=step.index, instance=ex.instance, now=now)


def _refused(ex: Executor, inc: Incoming, found: Assessment, pkey: str | None,
             now: datetime) -> Outgoing:
    reasons = found.reasons()
    log.warning("refusing plan %s: %s", inc.plan.plan_id, "; ".join(reasons))
    if ex.kube is not None:
        for step in found.steps:
            where = _refusal_subject(ex.policy, found, step)
            if step.status == "refused" and where is not None and \
                    ex.policy.namespace_level(where.namespace) in ("approve", "auto"):
                remediation_events.record(
                    ex.kube, target=where, reason="RemediationRefused",
                    message=f"{step.action.type} of {step.action.target.key} "
                            f"refused (plan {inc.plan.plan_id}): "
                            f"{'; '.join(step.reasons)}",
                    action=step.action.type, plan_id=inc.plan.plan_id,
                    incident_key=inc.incident_key, index=step.index,
                    instance=ex.instance, now=now)
    return replies.escalate(inc, "policy", "refused: " + "; ".join(reasons), pkey)


def _refusal_subject(policy: Policy, found: Assessment, step: Step) -> ObjectRef | None:
    """Where a refusal is recorded: the target when it is in the alerted chain, else the
    alerted object; never an object a hostile plan named, never in a denied namespace."""
    chain = [r for a in found.alerted for r in a.chain]
    if step.target is not None and any(same_object(step.target.ref, r) for r in chain):
        where: ObjectRef | None = step.target.ref
    else:
        where = found.alerted[0].ref if found.alerted else None
    if where is not None and where.namespace and policy.namespaces.refusal(where.namespace):
        return None
    return where


def _moved(found: Assessment, approved: dict[str, str]) -> str:
    for step in found.pending:
        assert step.target is not None
        key, seen = step.target.ref.key, step.target.resource_version
        if approved.get(key) != seen:
            return (f"{key} changed since the approval was requested (resourceVersion "
                    f"{approved.get(key)} → {seen})")
    return ""


def _ask(ex: Executor, inc: Incoming, found: Assessment, dry: dict[int, Applied],
         pkey: str | None, why: str) -> Outgoing:
    if ex.signer is None:
        return replies.escalate(inc, "policy", f"{why}; but the executor has no signing key "
                                "(EXECUTOR_SIGNING_KEY), so it cannot ask for approval", pkey)
    if not ex.policy.approvers:
        return replies.escalate(inc, "policy", f"{why}; but the policy allowlists no "
                                "approver", pkey)
    now = ex.clock()
    versions = {s.target.ref.key: s.target.resource_version
                for s in found.pending if s.target is not None}
    return replies.approval(inc, signer=ex.signer, dry_runs=replies.results(found, dry),
                            versions=versions, requested_at=now,
                            expires_at=now + ex.approval_ttl, why=why, pkey=pkey)
