"""The agent's event surface: `incident.context.enriched` → `incident.plan.proposed` | `.escalated`.

The process-wide wiring (settings, knowledge base, LLM, audit store) is built on the first event,
not at import: cold start is a product feature. Without a Gemini key no LLM client is built and
google-genai is never imported; the offline planner plans.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.context import ClusterContext, ObjectRef
from orchestrator.decide.core import Options, decide
from orchestrator.decide.facts import same_object
from orchestrator.decide.limits import Guards, PlannerLimits
from orchestrator.decide.situation import Escalation, Knowledge
from orchestrator.envelope import Event, Outgoing
from orchestrator.errors import PermanentError
from orchestrator.events import (
    CONTEXT_ENRICHED,
    ESCALATED,
    PLAN_PROPOSED,
    ContextEnriched,
    Escalated,
    PlanProposed,
)
from orchestrator.ids import event_id
from orchestrator.lifecycle import Lazy, process_settings
from orchestrator.provenance import PRODUCERS, Keyring, Signer, require
from orchestrator.settings.agent import AgentSettings

if TYPE_CHECKING:
    from orchestrator.adapters.llm import LLM

log = logging.getLogger(__name__)
STAGE = "agent"
ACCEPTS = {CONTEXT_ENRICHED: PRODUCERS[CONTEXT_ENRICHED]}


class Agent:
    """The knowledge base, LLM and audit store of one agent process."""

    def __init__(self, *, retriever: Knowledge, llm: LLM | None, audit: ObjectStore | None,
                 options: Options, limits: PlannerLimits, guards: Guards | None = None,
                 signer: Signer | None = None, keyring: Keyring | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 closers: tuple[Callable[[], None], ...] = ()) -> None:
        self.retriever = retriever
        self.llm = llm
        self.planner = None
        if llm is not None:  # the planner's code loads only with a model to ask
            from orchestrator.decide.gemini import GeminiPlanner

            self.planner = GeminiPlanner(llm, limits=limits)
        self.audit = audit
        self.guards = guards or Guards(incident_limit=limits.token_budget)
        self.signer = signer
        self.keyring = keyring or Keyring({})
        self.options = options
        self.clock = clock
        self._closers = closers

    @classmethod
    def from_env(cls) -> Agent:
        from orchestrator.decide.wiring import audit_store, guards, knowledge, language_model
        from orchestrator.provenance import identity_of

        s = process_settings(AgentSettings)  # the read the first delivery's checks made
        signer, keyring = identity_of(STAGE, s)
        llm = language_model(s)
        retriever, close_kb = knowledge(exact_first=llm is None)
        log.info("agent planner: %s", f"{llm.name} {llm.model}" if llm else "offline (no API key)")
        options = Options(top_k=s.top_k, confidence_threshold=s.confidence_threshold,
                          max_actions=s.max_actions,
                          reopen_window=timedelta(seconds=s.reopen_window_seconds))
        closers = (close_kb,) + ((llm.close,) if llm else ())
        audit = audit_store(s)
        return cls(retriever=retriever, llm=llm, audit=audit, options=options, limits=s,
                   guards=guards(s, audit) if llm is not None else None,  # only a model costs
                   signer=signer, keyring=keyring, closers=closers)

    def close(self) -> None:
        for close in self._closers:
            close()

    def handle(self, event: Event) -> Outgoing:
        """Authenticate the delivery (401 before any lookup or LLM call), plan, sign."""
        if event.type != CONTEXT_ENRICHED:
            raise PermanentError(f"agent does not handle {event.type!r}")
        self.keyring.check(event, now=self.clock(), expect=ACCEPTS)
        return require(self.signer, STAGE).sealed(self._plan(event))

    def _plan(self, event: Event) -> Outgoing:
        enriched = event.parse(ContextEnriched)
        key, alert = enriched.incident_key, enriched.alert
        result = decide(enriched=enriched, input_id=event.id, retriever=self.retriever,
                        planner=self.planner, audit=self.audit, guards=self.guards,
                        options=self.options, now=self.clock())
        out_id = event_id(key, STAGE, event.id)
        if isinstance(result, Escalation):
            log.info("escalating %s: %s", result.reason, result.detail[:300])
            return Outgoing(ESCALATED, out_id, STAGE, key,
                            Escalated(incident_key=key, stage=STAGE, reason=result.reason,
                                      detail=result.detail[:4000], alert=alert,
                                      plan_id=result.plan_id),
                            partition_key=alert.fingerprint)
        plan = result
        log.info("proposing plan %s (%s, confidence %.2f): %s", plan.plan_id, plan.model,
                 plan.confidence, ", ".join(f"{a.type} {a.target.key}" for a in plan.actions))
        ctx = enriched.context
        proposed = PlanProposed(incident_key=key, alert=alert, plan=plan, target=ctx.target,
                                owners=ctx.owners)
        return Outgoing(PLAN_PROPOSED, out_id, STAGE, key, proposed,
                        partition_key=partition_key(plan.actions[0].target, ctx)
                        if plan.actions else alert.fingerprint)


def partition_key(target: ObjectRef, ctx: ClusterContext) -> str:
    """The top owner of an action's target, so the executor serialises work per workload: a pod
    and its Deployment share the Deployment's key; a node is its own."""
    chain = [r for r in (ctx.target, *ctx.owners) if r is not None]
    if any(same_object(target, r) for r in chain):
        return (ctx.owners[-1] if ctx.owners else target).key
    return target.key


#: The process-wide Agent, built on first use (`instance()`; tests `instance.reset()`).
instance = Lazy(Agent.from_env)


def handle_event(event: Event) -> Outgoing | None:
    return instance().handle(event)
