"""One incident as the planners see it: the alert, its context, the facts, the runbooks found.

Built once per `incident.context.enriched` and shared by the reuse check, the LLM planner and
the offline planner, so all three judge the same facts against the same runbooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orchestrator.context import ClusterContext, ObjectRef
from orchestrator.decide.facts import Facts
from orchestrator.events import Alert, EscalationReason
from orchestrator.knowledge.chunks import Chunk, chunk_runbook
from orchestrator.knowledge.hits import Hit
from orchestrator.knowledge.runbook import Runbook
from orchestrator.memory import Outcome, blocked
from orchestrator.plan import Action, Citation, Plan, RetrievedRunbook


class Knowledge(Protocol):
    """The knowledge base as the agent uses it (`orchestrator.knowledge.search.Retriever`)."""

    def search(self, alert: Alert, *, top: int = 5) -> list[Hit]: ...

    def runbook(self, runbook_id: str) -> Runbook | None: ...

    def catalog(self) -> list[Runbook]: ...


@dataclass(frozen=True)
class Escalation:
    """Why this incident gets no plan: becomes `incident.escalated`."""

    reason: EscalationReason
    detail: str
    plan_id: str | None = None


@dataclass(frozen=True)
class Situation:
    incident_key: str
    plan_id: str
    alert: Alert
    context: ClusterContext
    facts: Facts
    hits: list[Hit]
    runbooks: dict[str, Runbook]
    """The retrieved runbooks by id, in rank order (a dict keeps insertion order)."""
    now: datetime
    memory: tuple[Outcome, ...] = ()
    """Verified outcomes of earlier actions on this incident's workload, newest first
    (`orchestrator.memory`): what failed twice within 24 h is not proposed again."""

    @property
    def workload(self) -> str | None:
        """The top owner of the alerted object (the key memory is filed under)."""
        top = self.context.owners[-1] if self.context.owners else self.context.target
        return top.key if top is not None else None

    def blocked(self, runbook_id: str, action: str, target: ObjectRef) -> str | None:
        """Why memory forbids `action` on `target` now, or None."""
        chain = [r for r in (self.context.target, *self.context.owners) if r is not None]
        workload = self.workload if any(r.key == target.key for r in chain) else target.key
        if workload is None:
            return None
        return blocked(list(self.memory), runbook=runbook_id, action=action,
                       workload=workload, now=self.now)

    def ranked(self) -> list[Runbook]:
        return list(self.runbooks.values())

    def best_hit(self, runbook_id: str) -> Hit | None:
        return next((h for h in self.hits if h.runbook == runbook_id), None)

    def chunks(self, runbook_id: str) -> list[Chunk]:
        """The cited runbook's sections as the index cut them: what a plan may cite."""
        rb = self.runbooks.get(runbook_id)
        return chunk_runbook(rb) if rb is not None else []

    def citation(self, runbook_id: str, chunk_id: str = "") -> Citation:
        """The runbook and section a plan stands on; the score is the runbook's retrieval."""
        hit = self.best_hit(runbook_id)
        score = round(hit.score, 4) if hit else 0.0
        chunk = next((c for c in self.chunks(runbook_id) if c.chunk_id == chunk_id), None)
        if chunk is not None:
            return Citation(runbook=runbook_id, heading=chunk.heading, chunk=chunk.chunk_id,
                            score=score)
        if hit is None:
            return Citation(runbook=runbook_id)
        return Citation(runbook=runbook_id, heading=hit.heading, chunk=hit.chunk_id, score=score)

    def retrieval(self) -> list[RetrievedRunbook]:
        """The ranking as the plan records it: one entry per hit, best first."""
        return [RetrievedRunbook(runbook=h.runbook, score=round(h.score, 4), heading=h.heading,
                                 retriever=h.retriever) for h in self.hits]

    def plan(self, *, runbook_id: str, chunk: str, actions: list[Action], hypothesis: str,
             confidence: float, model: str, offline: bool, tokens_in: int = 0,
             tokens_out: int = 0, reused_from: str | None = None) -> Plan:
        """A plan for this incident; its id is derived from the input event, so a redelivered
        `context.enriched` yields the same plan id (the executor recognises a plan it ran)."""
        return Plan(
            plan_id=self.plan_id, incident_key=self.incident_key,
            fingerprint=self.alert.fingerprint, hypothesis=hypothesis[:4000],
            confidence=round(min(max(confidence, 0.0), 1.0), 3),
            citations=[self.citation(runbook_id, chunk)], actions=actions,
            retrieval=self.retrieval(), model=model, offline=offline, tokens_in=tokens_in,
            tokens_out=tokens_out, reused_from=reused_from, created_at=self.now,
        )
