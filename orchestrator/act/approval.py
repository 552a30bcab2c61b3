"""Signatures the executor checks: the agent's on a proposal; on a human approval, its own
from when it asked and the console's over the decision; and what it signs when it asks.

A proposal is acted on only when the agent signed it: the broker's ingress is reachable by more
than the agent (a NetworkPolicy narrows that in a cluster, not on a laptop), and a plausible
plan within policy posted by anyone else must not restart a workload.

An approval is authority only when everything holds: the plan still carries the executor's own
signature from its dry run (nothing in it was altered), the console signed the human's decision
over that signature, the human is on the policy's allowlist, and the request is still fresh.
A forged approval is refused outright; a stale one (or one whose target moved on) is asked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from orchestrator.act.policy import Policy
from orchestrator.events import PlanDecision, PlanProposed
from orchestrator.plan import Plan
from orchestrator.signing import decision_payload, plan_payload, proposal_payload, sign, verify


def check_proposal(proposed: PlanProposed, *, agent_key: bytes | None) -> str | None:
    """Why this `plan.proposed` must not be acted on, or None when the agent signed it."""
    if agent_key is None:
        return ("the executor has no agent key to verify proposals with (EXECUTOR_AGENT_KEY), "
                "so it acts on none")
    if not proposed.signature:
        return "the proposal is not signed by the agent"
    if not verify(agent_key, proposal_payload(proposed), proposed.signature):
        return ("the agent's signature does not match: the proposal was altered, or the agent "
                "did not make it")
    if proposed.plan.incident_key != proposed.incident_key:
        return "the plan belongs to another incident"
    return None


def sign_request(key: bytes, *, plan: Plan, resource_versions: dict[str, str],
                 requested_at: datetime, incident_key: str) -> str:
    return sign(key, plan_payload(plan, resource_versions, requested_at, incident_key))


@dataclass(frozen=True)
class Verdict:
    """`ok`; `invalid` (forged or not allowed: do nothing); `stale` (genuine but expired)."""

    status: Literal["ok", "invalid", "stale"]
    why: str = ""


def check_decision(decision: PlanDecision, *, outcome: Literal["approved", "rejected"],
                   executor_key: bytes | None, console_key: bytes | None, policy: Policy,
                   ttl: timedelta, skew: timedelta, now: datetime) -> Verdict:
    """Is this `plan.approved` / `plan.rejected` genuine, allowed and fresh?"""
    if executor_key is None:
        return Verdict("invalid", "the executor has no signing key, so it cannot recognise "
                       "its own plans (EXECUTOR_SIGNING_KEY)")
    signed = plan_payload(decision.plan, decision.resource_versions, decision.requested_at,
                          decision.incident_key)
    if not verify(executor_key, signed, decision.executor_signature):
        return Verdict("invalid", "the executor's signature does not match: the plan or the "
                       "state it was dry-run against was altered, or it was never ours")
    if console_key is None:
        return Verdict("invalid", "the executor has no console key to verify approvals with "
                       "(EXECUTOR_CONSOLE_KEY)")
    decided = decision_payload(executor_signature=decision.executor_signature,
                               decision=outcome, approver=decision.approver,
                               decided_at=decision.decided_at)
    if not verify(console_key, decided, decision.console_signature):
        return Verdict("invalid", "the console's signature over the decision does not verify")
    if decision.plan.incident_key != decision.incident_key:
        return Verdict("invalid", "the plan belongs to another incident")
    if outcome == "approved" and not policy.approver_allowed(decision.approver):
        return Verdict("invalid", f"{decision.approver!r} is not on the policy's approver "
                       "allowlist")
    if decision.decided_at > now + skew:
        return Verdict("invalid", "the decision is dated in the future")
    if decision.decided_at < decision.requested_at - skew:
        return Verdict("invalid", "the decision predates the request it answers")
    expires = decision.requested_at + ttl
    if now > expires + skew:
        return Verdict("stale", f"the approval request expired at {expires.isoformat()} "
                       f"({ttl.total_seconds():g}s after it was made)")
    return Verdict("ok")
