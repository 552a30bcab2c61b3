"""What the executor checks before it acts on a proposal or a human decision, and how it signs
what it asks a human.

Every delivery is already authenticated (`orchestrator.provenance`: the agent signed the
proposal, the console the decision, recently). Beyond that, a proposal expires: it is acted on
only within `proposal_ttl` of its signed creation time, so a replayed old proposal is refused
whatever the budget says. An approval is authority only when everything holds: the request it
answers still carries the executor's own signature over exactly what the human was shown
(actions, targets, parameters, dry runs, resourceVersions, why, expiry), the console signed the
human's decision over that signature, the human is on the policy's allowlist, and the request
has not expired. A forged approval is refused outright; a stale one is asked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from orchestrator.act.policy import Policy
from orchestrator.events import ApprovalRequested, PlanDecision, PlanProposed
from orchestrator.provenance import Keyring, Signer
from orchestrator.signing import decision_payload, request_of, request_payload, sign, verify


def check_proposal(proposed: PlanProposed, *, signed_at: datetime, ttl: timedelta,
                   skew: timedelta, now: datetime) -> str | None:
    """Why this (authenticated) `plan.proposed` must not be acted on, or None."""
    if proposed.plan.incident_key != proposed.incident_key:
        return "the plan belongs to another incident"
    if signed_at > now + skew:
        return f"the proposal is dated in the future ({signed_at.isoformat()})"
    if now > signed_at + ttl:
        return (f"the proposal expired: proposed at {signed_at.isoformat()}, valid for "
                f"{ttl.total_seconds():g}s; a replayed old plan is never acted on")
    return None


def signed_request(signer: Signer, req: ApprovalRequested) -> ApprovalRequested:
    """The request with the executor's signature over everything it shows."""
    return req.model_copy(update={"signature": sign(signer, request_payload(req))})


@dataclass(frozen=True)
class Verdict:
    """`ok`; `invalid` (forged or not allowed: do nothing); `stale` (genuine but expired)."""

    status: Literal["ok", "invalid", "stale"]
    why: str = ""


def check_decision(decision: PlanDecision, *, outcome: Literal["approved", "rejected"],
                   keyring: Keyring, policy: Policy, ttl: timedelta, skew: timedelta,
                   now: datetime) -> Verdict:
    """Is this `plan.approved` / `plan.rejected` genuine, allowed and fresh?"""
    request = request_of(decision)
    if not verify(keyring, "executor", request_payload(request), decision.executor_signature):
        return Verdict("invalid", "the executor's signature does not match: what was shown to "
                       "the human (plan, dry runs, expiry) was altered, or it was never ours")
    decided = decision_payload(executor_signature=decision.executor_signature,
                               decision=outcome, approver=decision.approver,
                               decided_at=decision.decided_at)
    if not verify(keyring, "console", decided, decision.console_signature):
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
    expires = min(decision.requested_at + ttl, decision.expires_at)
    if now > expires + skew or decision.decided_at > expires + skew:
        return Verdict("stale", f"the approval request expired at {expires.isoformat()}")
    return Verdict("ok")
