"""Decide: one enriched alert in, one plan or one escalation out.

The order is the cost order: retrieve (no runbook → escalate, nothing to ground a plan on), and
let what the cluster shows overrule the alert's name where it contradicts the runbook found
(`evidence.py`); reuse a recent plan for the same fingerprint (no LLM call); ask the LLM (Gemini
or an OpenAI-compatible server, as `AGENT_LLM_PROVIDER` says) when its key is configured, under
its cost guards (`orchestrator.decide.guarded`: one call per fingerprint, token budgets per
incident and per hour); otherwise, or when the model fails, the offline planner. Whatever
planned, the plan was validated against the cited runbook, and a plan below the confidence
threshold is escalated, not proposed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from orchestrator import memory
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.decide import reuse
from orchestrator.decide.evidence import contradiction, follow_cluster
from orchestrator.decide.facts import Facts, compute
from orchestrator.decide.limits import Guards
from orchestrator.decide.offline import plan_offline
from orchestrator.decide.situation import Escalation, Knowledge, Situation
from orchestrator.events import ContextEnriched
from orchestrator.ids import event_id
from orchestrator.knowledge.hits import Hit
from orchestrator.knowledge.runbook import Runbook
from orchestrator.plan import Plan
from orchestrator.telemetry import span

if TYPE_CHECKING:
    from orchestrator.decide.gemini import GeminiPlanner

log = logging.getLogger(__name__)
HISTORY = timedelta(days=7)
"""How far back the planner is shown a workload's remediation outcomes."""


@dataclass(frozen=True)
class Options:
    top_k: int = 5
    confidence_threshold: float = 0.5
    max_actions: int = 1
    reopen_window: timedelta = timedelta(hours=1)


def decide(*, enriched: ContextEnriched, input_id: str, retriever: Knowledge,
           planner: GeminiPlanner | None, audit: ObjectStore | None, guards: Guards,
           options: Options, now: datetime) -> Plan | Escalation:
    """Plan the response to one enriched alert (see the module docstring for the order)."""
    alert, ctx, key = enriched.alert, enriched.context, enriched.incident_key
    with span("retrieval", {"incident.key": key, "retrieval.top_k": options.top_k}) as sp:
        hits = retriever.search(alert, top=options.top_k)
        sp.set("retrieval.runbooks", sorted({h.runbook for h in hits}))
    runbooks: dict[str, Runbook] = {}
    for hit in hits:
        if hit.runbook not in runbooks and (rb := retriever.runbook(hit.runbook)) is not None:
            runbooks[rb.id] = rb
    facts = compute(alert, ctx, now=now)
    hits, runbooks, _ = follow_cluster([h for h in hits if h.runbook in runbooks], runbooks,
                                       _catalog(retriever, hits, runbooks, facts), facts)
    s = Situation(incident_key=key, plan_id=event_id(key, "agent-plan", input_id), alert=alert,
                  context=ctx, facts=facts, hits=hits, runbooks=runbooks, now=now)
    log.info("alert %s: retrieved %s", alert.name,
             ", ".join(f"{h.runbook}({h.retriever} {h.score:.2f})" for h in s.hits) or "nothing")
    if not runbooks:
        return plan_offline(s)  # the offline planner's "no-runbook" escalation
    records = reuse.load(audit, s, window=options.reopen_window) if audit else []
    if records is None:  # the audit store is down: no reuse, and no LLM without its guards
        from orchestrator.decide.guarded import store_down

        return _threshold(store_down(s, max_actions=options.max_actions,
                                     llm=planner is not None), options)
    if audit is not None and s.workload is not None:
        # The store answered just now; should it fail here, the delivery is retried.
        s = replace(s, memory=tuple(memory.history(audit, s.workload, since=now - HISTORY)))
    if options.reopen_window > timedelta(0):
        reused = reuse.reuse(s, records, window=options.reopen_window,
                             max_actions=options.max_actions)
        if reused is not None:
            log.info("reusing plan %s for fingerprint %s", reused.reused_from or reused.plan_id,
                     alert.fingerprint)
            return _threshold(reused, options)
    if planner is None:
        return _threshold(plan_offline(s, max_actions=options.max_actions), options)
    from orchestrator.decide.guarded import plan_with_llm  # loads only with a model to ask

    result = plan_with_llm(s, planner=planner, guards=guards,
                           spent=reuse.spent_tokens(records, key),
                           max_actions=options.max_actions)
    return _threshold(result, options)


def _catalog(retriever: Knowledge, hits: list[Hit], runbooks: dict[str, Runbook],
             facts: Facts) -> list[Runbook]:
    """Every runbook, read only when the cluster contradicts the top one (the common case,
    agreement or no cluster, costs nothing)."""
    top = runbooks.get(hits[0].runbook) if hits else None
    if top is None or contradiction(top, facts) is None:
        return []
    return retriever.catalog()


def _threshold(result: Plan | Escalation, options: Options) -> Plan | Escalation:
    if isinstance(result, Plan) and result.confidence < options.confidence_threshold:
        return Escalation("low-confidence",
                          f"confidence {result.confidence:.2f} is below the threshold "
                          f"{options.confidence_threshold:.2f}: {result.hypothesis}",
                          plan_id=result.plan_id)
    return result
