"""The LLM path under its cost guards: one call per fingerprint (the claim), two token budgets.

In order: follow the claim that governs this fingerprint (its holder's plan, re-validated here,
or its escalation); when none does, check the budgets, take the claim, ask the model, record
the outcome for the followers. Whenever the guards cannot be kept (the audit store is down, a
holder is still at work after the follower's wait), a budget is spent, or the holder's plan does
not fit this context, the offline planner plans: incident response goes on without the model
rather than without a bound on its cost.

An exhausted budget yields the offline plan when the runbook's predicates allow one: the plan
says the LLM budget was exhausted (hypothesis, and `budget.exhausted`), and the executor's
policy still decides whether a human approves it. Only when no offline plan applies is it an
escalation with reason `budget`, whose detail names the budget and its spend against the limit.
"""

from __future__ import annotations

import logging
from typing import Literal

from orchestrator.decide import reuse
from orchestrator.decide.claim import Busy, Claim, Decided
from orchestrator.decide.gemini import Fallback, GeminiPlanner
from orchestrator.decide.limits import Guards
from orchestrator.decide.offline import plan_offline
from orchestrator.decide.situation import Escalation, Situation
from orchestrator.decide.token_budget import Budget
from orchestrator.errors import TransientError
from orchestrator.plan import Plan

log = logging.getLogger(__name__)

# Looks at the claim one delivery may make: the first, and two after losing a race (each lost
# race means a new claim to follow, so a third loss only happens with a holder that released).
_ROUNDS = 3


def plan_with_llm(s: Situation, *, planner: GeminiPlanner, guards: Guards, spent: int,
                  max_actions: int) -> Plan | Escalation:
    """The plan for `s` when an LLM is configured; `spent`: this incident's earlier tokens."""
    for _ in range(_ROUNDS):
        try:
            state = guards.claims.look(s.alert.fingerprint) if guards.claims else None
        except TransientError as e:
            return store_down(s, max_actions=max_actions, llm=True, error=str(e))
        if isinstance(state, Decided):
            return follow(s, state, max_actions=max_actions)
        if isinstance(state, Busy):
            return _offline(s, max_actions, (
                f"LLM not asked: another delivery of this alert fingerprint has been asking it "
                f"since {state.claim.claimed_at.isoformat(timespec='seconds')} (incident "
                f"{state.claim.incident_key}); planned offline rather than wait longer or call "
                "twice."))
        try:
            budget = _budget(s, guards, spent)
        except TransientError as e:
            return store_down(s, max_actions=max_actions, llm=True, error=str(e))
        # Rendered once: the planner's first call sends these very prompts.
        prompts = planner.prompts(s)
        over = budget.exceeded(used=0, need=planner.need(*prompts))
        if over is not None:
            return conclude(s, Fallback("budget", over[1], exhausted=over[0]), budget,
                            max_actions=max_actions)
        held = None
        if guards.claims is not None and state is not None:
            try:
                held = guards.claims.take(s, state)
            except TransientError as e:
                return store_down(s, max_actions=max_actions, llm=True, error=str(e))
            if held is None:
                continue  # another delivery claimed it first: follow that one
        return _ask(s, planner, guards, budget, held, max_actions, prompts)
    return _offline(s, max_actions, "LLM not asked: other deliveries of this alert fingerprint "
                    "kept claiming it first.")


def follow(s: Situation, decided: Decided, *, max_actions: int) -> Plan | Escalation:
    """What another delivery's decision means for this one: the same answer for the same
    input; its plan re-validated here, or its escalation, for another incident."""
    out = decided.outcome
    if out.plan_id == s.plan_id:
        # The same input delivered again: the same answer, as first given.
        return out.plan if out.plan is not None else out.escalation()
    when = out.decided_at.isoformat(timespec="seconds")
    if out.plan is not None:
        plan = reuse.reissue(s, out.plan, max_actions=max_actions)
        if plan is not None:
            log.info("following LLM claim %d of fingerprint %s: plan %s",
                     decided.claim.generation, s.alert.fingerprint, out.plan.plan_id)
            return plan
        # The model is asked once per fingerprint and window: the context changed, and the
        # runbook's predicates judge it as well offline.
        return _offline(s, max_actions, (
            f"LLM not asked again: plan {out.plan.plan_id}, made for this alert fingerprint at "
            f"{when}, does not apply to this context, and the model is asked once per "
            "fingerprint within the reopen window."))
    esc = out.escalation()
    log.info("following LLM claim %d of fingerprint %s: escalation %s",
             decided.claim.generation, s.alert.fingerprint, esc.reason)
    detail = (f"Decided at {when} for incident {decided.claim.incident_key} with the same "
              f"alert fingerprint (one LLM call per fingerprint within the reopen window): "
              f"{esc.detail}")
    return Escalation(esc.reason, detail[:4000])


def conclude(s: Situation, result: Plan | Escalation | Fallback, budget: Budget, *,
             max_actions: int) -> Plan | Escalation:
    """The model's plan, or the offline planner's when the model failed or a budget stopped
    it, with the budgets as they stand; an escalation when nothing valid came of it."""
    exhausted: Literal["incident", "hour"] | None = None
    if isinstance(result, Escalation):
        return result
    if isinstance(result, Fallback):
        note = f"LLM fallback: {result.why}."
        offline = plan_offline(s, note=note, tokens_in=result.tokens_in,
                               tokens_out=result.tokens_out, max_actions=max_actions)
        if isinstance(offline, Escalation):
            if result.kind == "unavailable":
                return offline
            if result.kind == "invalid":
                return Escalation("invalid-plan", offline.detail)
            # Lead with the budget: that is what a human has to act on.
            why_not = plan_offline(s, max_actions=max_actions)
            return Escalation("budget", f"{result.why}. No offline plan applies either: "
                              f"{why_not.detail if isinstance(why_not, Escalation) else ''}")
        exhausted = result.exhausted
        result = offline
    used = result.tokens_in + result.tokens_out
    return result.model_copy(update={"budget": budget.snapshot(used=used, exhausted=exhausted)})


def _ask(s: Situation, planner: GeminiPlanner, guards: Guards, budget: Budget,
         held: Claim | None, max_actions: int, prompts: tuple[str, str]) -> Plan | Escalation:
    decided: Plan | Escalation | None = None
    try:
        answer = planner.plan(s, budget=budget, ledger=guards.ledger, prompts=prompts)
        decided = conclude(s, answer, budget, max_actions=max_actions)
        return decided
    finally:
        # Followers must not wait on a claim whose holder failed: release it (outcome None).
        if held is not None and guards.claims is not None:
            guards.claims.settle(held, s.alert.fingerprint, decided)


def _budget(s: Situation, guards: Guards, spent: int) -> Budget:
    hour = None
    if guards.hour_limit > 0 and guards.ledger is not None:
        hour = guards.ledger.spent(s.now)
    return Budget(incident_limit=guards.incident_limit, incident_spent=spent,
                  hour_limit=guards.hour_limit, hour_spent=hour)


def store_down(s: Situation, *, max_actions: int, llm: bool,
               error: str = "see the agent's log") -> Plan | Escalation:
    """The offline plan when the audit store cannot be read; with an LLM configured, saying
    why the model was not asked."""
    if not llm:
        return plan_offline(s, max_actions=max_actions)
    return _offline(s, max_actions, f"LLM not asked: the audit store is unavailable, so one "
                    f"call per fingerprint and the hourly budget cannot be ensured ({error}).")


def _offline(s: Situation, max_actions: int, note: str) -> Plan | Escalation:
    log.warning("%s", note)
    return plan_offline(s, note=note, max_actions=max_actions)
