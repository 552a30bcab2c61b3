"""Human approvals: what the executor signs when it asks, and what it checks when one arrives.

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
from orchestrator.events import PlanDecision
from orchestrator.plan import Plan
from orchestrator.signing import decision_payload, plan_payload, sign, verify


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
