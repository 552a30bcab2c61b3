"""The executor's own evidence: the facts a runbook action's `when` needs, read now, by itself.

The context and plan on an event are hints. Anyone who can post to the agent can describe a
healthy Deployment as crash-looping and get a genuinely signed plan to restart it; a signature
proves who planned, never that the facts were true. So at Act time (auto, approved and dry-run
alike) the executor reads the alerted object and its owner chain with its own credentials,
through the router's own gathering code (`orchestrator.orient.enrich`: one fact vocabulary,
computed by `orchestrator.decide.facts` from a `ClusterContext`), and licenses an action only
when one of the cited runbooks' entries of that type names this target and every one of its
predicates holds on those facts. Events and log tails are not read: no fact uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.adapters.kube_reads import KubeReads
from orchestrator.context import ClusterContext, ObjectRef
from orchestrator.decide.facts import Facts, alerted_pod, compute, same_object, top_owner
from orchestrator.decide.predicates import evaluate_all
from orchestrator.events import Alert
from orchestrator.knowledge.runbook import Runbook, RunbookAction
from orchestrator.orient.enrich import enrich
from orchestrator.orient.fields import Scrubber
from orchestrator.orient.limits import ReadLimits
from orchestrator.plan import Action, Plan

# Enough pods to find the alerted one and the revisions rollbacks look at; no Events, no logs.
# Built without validation: 0 log lines (none read) is below what the router's setting allows.
FACT_LIMITS = ReadLimits.model_construct(max_events=0, max_pods=20, max_revisions=5,
                                         log_tail_lines=0)


@dataclass(frozen=True)
class Evidence:
    """What the executor read for one alert, and the facts computed from it."""

    alert: Alert
    context: ClusterContext
    facts: Facts


def gather(reads: KubeReads, alert: Alert, *, now: datetime, threads: int = 4) -> Evidence:
    """Read the alerted object and its chain now. A refused read (403, 404) leaves its facts
    unknown, which fails every predicate over them; an API that is down raises
    `TransientError`, so the delivery is retried rather than decided on half the facts."""
    # `source` only labels the context, which never leaves the executor.
    context = enrich(alert=alert, reads=reads, source="in-cluster", limits=FACT_LIMITS,
                     threads=threads, scrub=Scrubber())
    return Evidence(alert, context, compute(alert, context, now=now))


def licence_refusals(action: Action, *, plan: Plan, runbooks: dict[str, Runbook],
                     evidence: Evidence) -> list[str]:
    """[] when a cited runbook's entry of this action's type names this very target and all
    its predicates hold on the executor's own facts; else every reason, each failing or unknown
    predicate named."""
    reasons: list[str] = []
    for runbook_id in dict.fromkeys(c.runbook for c in plan.citations):
        runbook = runbooks.get(runbook_id)
        if runbook is None:
            continue  # unknown runbooks are refused by `checks.runbook_refusal`
        for entry in (e for e in runbook.actions if e.type == action.type):
            named = entry_target(entry, evidence)
            if named is None or not same_object(named, action.target):
                seen = named.key if named is not None else "nothing"
                reasons.append(f"runbook {runbook_id} allows {entry.type} on the alert's "
                               f"`{entry.target}` object, which the cluster says is {seen}")
                continue
            verdicts = evaluate_all(entry.when, evidence.facts)
            failing = [v.describe() for v in verdicts if not v.holds]
            if not failing:
                return []
            reasons.append(f"runbook {runbook_id}'s {entry.type} does not apply as the cluster "
                           "is now: " + "; ".join(failing))
    return reasons or [f"no cited runbook has a {action.type} entry to check"]


def entry_target(entry: RunbookAction, evidence: Evidence) -> ObjectRef | None:
    """The object a runbook entry's `target` names, as the executor's own reads found it."""
    ctx = evidence.context
    target = ctx.target
    if entry.target == "alerted":
        return target
    if entry.target == "pod":
        return target if target is not None and target.kind == "Pod" else None
    if entry.target == "owner":
        return top_owner(ctx)
    if entry.target == "job":
        if target is not None and target.kind == "Job":
            return target
        return next((o for o in ctx.owners if o.kind == "Job"), None)
    if target is not None and target.kind == "Node":
        return target
    pod = alerted_pod(evidence.alert, ctx)
    return ObjectRef(kind="Node", name=pod.node) if pod is not None and pod.node else None
