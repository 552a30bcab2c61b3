"""The offline planner: runbook predicates against the facts, no LLM.

Used when no API key is configured (the embedded default), when Gemini stays unavailable after
its retries, and when its answers stay invalid. It is deterministic: the best-ranked runbook's
actions are judged in the runbook's order of preference and the first whose predicates all hold
is proposed. It never maps an alertname to an action by itself: a runbook with no applicable
action (or none at all, "a human decides") escalates, saying which conditions failed.

Only the best-ranked runbook is consulted: when it allows nothing here, falling through to a
lower-ranked (less relevant) runbook's actions would be guessing.
"""

from __future__ import annotations

from orchestrator.decide.situation import Escalation, Situation
from orchestrator.decide.validate import (
    Candidate,
    InvalidPlan,
    Proposed,
    candidates,
    validate,
)
from orchestrator.plan import Plan

MODEL = "offline-planner"

# Confidence = 0.4 + 0.3 x the runbook's retrieval score: at most 0.7 (an exact alertname
# match), always below what a model that read the whole context may claim, and under the
# default threshold (0.5) when only a weak text match found the runbook.
_BASE = 0.4
_SPAN = 0.3


def confidence(score: float) -> float:
    return round(_BASE + _SPAN * min(max(score, 0.0), 1.0), 3)


def plan_offline(s: Situation, *, note: str = "", tokens_in: int = 0, tokens_out: int = 0,
                 max_actions: int = 1) -> Plan | Escalation:
    """The offline plan, or why there is none. `note` (e.g. "Gemini unavailable") is told in
    the hypothesis or the escalation."""
    ranked = s.ranked()
    if not ranked:
        return Escalation("no-runbook", f"no runbook matches alert {s.alert.name or '(unnamed)'}:"
                          " retrieval abstained, a human has to look")
    runbook = ranked[0]
    hit = s.best_hit(runbook.id)
    options = candidates(s, runbook)
    chosen = next((c for c in options if c.applicable), None)
    if chosen is None or chosen.target is None:
        return Escalation("no-applicable-action", _why_not(s, runbook.id, options, note))
    proposed = Proposed(type=chosen.action.type, kind=chosen.target.kind,
                        name=chosen.target.name, namespace=chosen.target.namespace,
                        parameters={k: str(v) for k, v in chosen.action.params.items()},
                        reason=chosen.action.why)
    try:
        actions = validate(s, runbook_id=runbook.id, chunk="", proposed=[proposed],
                           max_actions=max_actions)
    except InvalidPlan as e:  # cannot happen for a resolved candidate; refuse rather than act
        return Escalation("invalid-plan", f"offline plan failed validation: {e}")
    how = f"{hit.retriever} match, score {hit.score:.2f}" if hit else "retrieved"
    held = "; ".join(v.describe() for v in chosen.verdicts)
    hypothesis = (
        f"Offline planner (no LLM). Alert {s.alert.name} matches runbook {runbook.id} "
        f"({runbook.title}; {how}). {proposed.describe()} applies: {chosen.action.why} "
        f"Conditions checked: {held}." + (f" {note}" if note else "")
    )
    # Cite the section that says what to do, when the runbook has one; else the best match.
    todo = next((c.chunk_id for c in s.chunks(runbook.id)
                 if c.chunk_id.split("#", 1)[-1].startswith("what-to-do")), "")
    return s.plan(runbook_id=runbook.id, chunk=todo, actions=actions, hypothesis=hypothesis,
                  confidence=confidence(hit.score if hit else 0.0), model=MODEL, offline=True,
                  tokens_in=tokens_in, tokens_out=tokens_out)


def _why_not(s: Situation, runbook_id: str, cands: list[Candidate], note: str) -> str:
    if not cands:
        detail = f"runbook {runbook_id} allows no automatic action: a human decides"
    else:
        detail = f"runbook {runbook_id}: no action applies. " + " | ".join(
            c.describe() for c in cands)
    if not s.context.available:
        detail += " (no live cluster context: the facts the runbook's conditions need are unknown)"
    if note:
        detail += f" {note}"
    return detail
