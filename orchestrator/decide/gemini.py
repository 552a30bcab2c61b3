"""The LLM planner: the model reads the incident and the runbooks, the validator decides what
passes. The model is whichever `LLM` adapter the settings chose (Gemini, or an OpenAI-compatible
server): everything below is the same for both.

The model answers in its own flat schema (`Answer`: lists and strings only, because the Gemini
API rejects the `additionalProperties` a dict field would need); the answer becomes an
event-model `Plan` only after `validate` accepted every action. An invalid answer gets one
corrective retry carrying the validator's findings; a 429, 5xx or timeout gets bounded retries
(stamina: jittered exponential backoff, attempts and total time capped), never sooner than a
`Retry-After` said (one longer than `retry_after_max_seconds` ends the retries at once). When
that is not enough the caller falls back to the offline planner (`Fallback`). Before every call the
token budgets (per incident, its earlier plans counted; per hour, across all incidents) must
allow the most it may cost, and the call is reserved, then recorded, in the hourly ledger.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.adapters.llm import LLM, Generation, Throttled
from orchestrator.decide.limits import PlannerLimits
from orchestrator.decide.prompt import render
from orchestrator.decide.situation import Escalation, Situation
from orchestrator.decide.token_budget import Budget, Ledger, new_call_id
from orchestrator.decide.validate import InvalidPlan, Proposed, candidates, validate
from orchestrator.errors import PermanentError, TransientError
from orchestrator.memory import describe
from orchestrator.plan import Plan
from orchestrator.telemetry import llm_call

log = logging.getLogger(__name__)


class AnswerParameter(BaseModel):
    # The answer's validators are built on the first LLM answer, not at import: without a key
    # the agent never builds them (cold start).
    model_config = ConfigDict(defer_build=True)

    name: str
    value: str


class AnswerAction(BaseModel):
    model_config = ConfigDict(defer_build=True)

    type: str = Field(description="An action type listed for the cited runbook.")
    target_kind: str = Field(description="Kind of the action's listed target, e.g. Deployment.")
    target_namespace: str = Field(description="Namespace of the target; empty for a Node.")
    target_name: str = Field(description="Name of the action's listed target.")
    parameters: list[AnswerParameter] = Field(description="The runbook's parameters, or [].")
    reason: str = Field(description="One sentence: why this action, from the evidence.")


class Answer(BaseModel):
    """What the model must return (its response schema)."""

    model_config = ConfigDict(defer_build=True)

    hypothesis: str = Field(description="Most likely cause and the evidence for it.")
    confidence: float = Field(description="0.0 to 1.0.")
    runbook: str = Field(description="Id of the runbook the plan stands on.")
    chunk: str = Field(description="Id of the retrieved chunk that best supports the plan.")
    actions: list[AnswerAction] = Field(description="Applicable actions only; [] for none.")


@dataclass(frozen=True)
class Fallback:
    """The model could not produce a valid plan: the offline planner takes over."""

    kind: Literal["unavailable", "invalid", "budget"]
    why: str
    tokens_in: int = 0
    tokens_out: int = 0
    exhausted: Literal["incident", "hour"] | None = None
    """For `budget`: which one."""


class GeminiPlanner:
    def __init__(self, llm: LLM, *, limits: PlannerLimits) -> None:
        self.llm = llm
        self.limits = limits

    def prompts(self, s: Situation) -> tuple[str, str]:
        """The system and user prompts of the first call."""
        lim = self.limits
        return (render("system", max_actions=lim.max_actions),
                render("user", **sections(s, lim.prompt_runbooks)))

    def need(self, system: str, prompt: str) -> int:
        """The most one call with this prompt may cost: what a budget must still allow."""
        return estimate_tokens(system + prompt) + self.limits.max_output_tokens

    def plan(self, s: Situation, *, budget: Budget, ledger: Ledger | None = None,
             prompts: tuple[str, str] | None = None) -> Plan | Escalation | Fallback:
        """One plan for the incident, within `budget`; each call goes in the `ledger`.
        `prompts`: `self.prompts(s)` when the caller has already rendered them."""
        lim = self.limits
        system, user = prompts or self.prompts(s)
        prompt, used_in, used_out = user, 0, 0
        problems: list[str] = []
        for attempt in (1, 2):
            need = self.need(system, prompt)
            over = budget.exceeded(used=used_in + used_out, need=need)
            if over is not None:
                which, why = over
                if attempt == 2:
                    why = f"{why}; first answer invalid: {'; '.join(problems)}"
                return Fallback("budget", why, used_in, used_out, exhausted=which)
            call = new_call_id()
            if ledger is not None:
                try:
                    ledger.record(call, "reserved", need, now=s.now, about=_about(s))
                except TransientError as e:
                    return Fallback("unavailable", f"LLM not asked: the hourly token ledger "
                                    f"cannot be written ({e})", used_in, used_out)
            try:
                gen = self._generate(system, prompt)
            except (TransientError, PermanentError) as e:
                log.warning("%s unavailable, falling back to the offline planner: %s",
                            self.llm.name, e)
                self._record_cost(ledger, call, s, 0)
                return Fallback("unavailable", f"{self.llm.name} unavailable ({e})", used_in,
                                used_out)
            self._record_cost(ledger, call, s, gen.tokens_in + gen.tokens_out)
            used_in += gen.tokens_in
            used_out += gen.tokens_out
            try:
                return self._accept(s, gen, used_in, used_out)
            except InvalidPlan as e:
                problems = e.problems
            log.warning("%s answer %d rejected: %s", self.llm.name, attempt,
                        "; ".join(problems)[:500])
            prompt = user + "\n\n" + render("retry", errors="\n".join(f"- {p}" for p in problems),
                                            max_actions=lim.max_actions)
        return Fallback("invalid", f"{self.llm.name}'s answers failed validation twice: "
                        + "; ".join(problems), used_in, used_out)

    @staticmethod
    def _record_cost(ledger: Ledger | None, call: str, s: Situation, tokens: int) -> None:
        if ledger is None:
            return
        try:
            ledger.record(call, "spent", tokens, now=s.now, about=_about(s))
        except TransientError as e:
            # The reservation stays in the ledger and counts instead: the budget errs safe.
            log.warning("could not record the cost of LLM call %s: %s", call, e)

    def _generate(self, system: str, prompt: str) -> Generation:
        import stamina  # the retry schedule: loaded with the first model call, not at start

        lim = self.limits
        for attempt in stamina.retry_context(
                on=self._retry_after, attempts=lim.retries + 1,
                timeout=lim.longest_call_seconds(lim.timeout_seconds),
                wait_initial=lim.backoff_seconds, wait_jitter=lim.backoff_seconds,
                wait_exp_base=2.0, wait_max=math.inf):
            with attempt, llm_call(provider=self.llm.name, model=self.llm.model,
                                   max_tokens=lim.max_output_tokens,
                                   temperature=lim.temperature) as call:
                gen = self.llm.generate(system=system, prompt=prompt, schema=Answer,
                                        temperature=lim.temperature,
                                        max_output_tokens=lim.max_output_tokens)
                call.record(model=gen.model, tokens_in=gen.tokens_in,
                            tokens_out=gen.tokens_out, finish_reason=gen.finish_reason)
                return gen
        raise TransientError("unreachable")  # the last attempt returns or raises

    def _retry_after(self, e: BaseException) -> bool | float:
        """Whether a failed call is tried again, and after how long when the server said so:
        a 429, 5xx or timeout is (after the backoff), never sooner than its `Retry-After`, and
        not at all when that is longer than `retry_after_max_seconds` (waiting would outlast the
        delivery: plan offline now); a bad key or a refused schema never is."""
        if not isinstance(e, TransientError):
            return False
        if isinstance(e, Throttled):
            if e.retry_after > self.limits.retry_after_max_seconds:
                return False
            log.warning("%s throttled (%s): the next attempt, if any, in %.2fs", self.llm.name, e,
                        e.retry_after)
            return float(e.retry_after)
        log.warning("%s call failed (%s): the next attempt, if any, after the backoff",
                    self.llm.name, e)
        return True

    def _accept(self, s: Situation, gen: Generation, tokens_in: int,
                tokens_out: int) -> Plan | Escalation:
        try:
            answer = Answer.model_validate_json(gen.text)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "answer"
            raise InvalidPlan([f"the answer is not the JSON schema asked for "
                               f"(finish reason {gen.finish_reason or 'none'}): "
                               f"{where}: {first['msg']}"]) from e
        problems = []
        if not 0.0 <= answer.confidence <= 1.0:
            problems.append(f"confidence {answer.confidence} is outside 0.0-1.0")
        proposed = [Proposed(type=a.type, kind=a.target_kind, name=a.target_name,
                             namespace=a.target_namespace or None,
                             parameters={p.name: p.value for p in a.parameters},
                             reason=a.reason) for a in answer.actions]
        try:
            actions = validate(s, runbook_id=answer.runbook, chunk=answer.chunk,
                               proposed=proposed, max_actions=self.limits.max_actions)
        except InvalidPlan as e:
            problems += e.problems
        if problems:
            raise InvalidPlan(problems)
        if not actions:
            return Escalation("no-applicable-action",
                              f"{gen.model} proposes no action (runbook {answer.runbook}): "
                              f"{answer.hypothesis}")
        return s.plan(runbook_id=answer.runbook, chunk=answer.chunk, actions=actions,
                      hypothesis=answer.hypothesis, confidence=answer.confidence,
                      model=gen.model, offline=False, tokens_in=tokens_in,
                      tokens_out=tokens_out)


def _about(s: Situation) -> dict[str, str]:
    return {"plan_id": s.plan_id, "incident_key": s.incident_key,
            "fingerprint": s.alert.fingerprint}


def estimate_tokens(text: str) -> int:
    """Roughly 4 characters per token for English and JSON: enough to enforce a budget."""
    return len(text) // 4 + 1


def sections(s: Situation, runbooks: int) -> dict[str, str]:
    """The data sections of the user prompt, as compact JSON."""
    alert = s.alert.model_dump(mode="json", include={"status", "labels", "annotations",
                                                     "starts_at", "generator_url"})
    context = s.context.model_dump(mode="json", exclude_defaults=True)
    shown = [_runbook_entry(s, rb.id) for rb in s.ranked()[:runbooks]]
    return {"alert": _json(alert), "context": _json(context), "facts": _json(s.facts),
            "runbooks": _json(shown), "now": s.now.isoformat(timespec="seconds")}


def _runbook_entry(s: Situation, runbook_id: str) -> dict[str, Any]:
    rb = s.runbooks[runbook_id]
    hit = s.best_hit(runbook_id)
    actions = []
    for c in candidates(s, rb):
        target = None if c.target is None else {
            "kind": c.target.kind, "namespace": c.target.namespace or "", "name": c.target.name}
        actions.append({"type": c.action.type, "risk": c.action.risk, "target": target,
                        "parameters": c.action.params, "why": c.action.why,
                        "applicable": c.applicable, "conditions": c.describe()})
    return {
        "runbook": rb.id, "title": rb.title,
        "retrieval": {"retriever": hit.retriever, "score": round(hit.score, 3)} if hit else {},
        "best_chunk": hit.chunk_id if hit else "",
        "actions": actions,
        "remediation_history": describe([o for o in s.memory if o.runbook in (rb.id, "")]),
        "chunks": [{"chunk": c.chunk_id, "heading": c.heading, "text": c.text}
                   for c in s.chunks(rb.id)],
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
