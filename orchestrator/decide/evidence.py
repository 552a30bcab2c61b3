"""The runbook follows what the cluster shows, not what the alert is called.

An alert's name is a claim made minutes ago by a rule; the enriched context is what the cluster
shows now. `KubePodNotReady` fires for a pod that is Pending with FailedScheduling events as
well as for one in CrashLoopBackOff, and the not-ready runbook's answers fit neither. A runbook
may declare the state it is about in its front matter (`shows`: predicates over the same facts
its actions use, e.g. `container.waiting_reason eq CrashLoopBackOff`). When the best-ranked
runbook declares a state and the facts *contradict* it (a known fact fails a predicate),
the runbook whose declared state the cluster does show takes its place.

It never guesses: the alert must have been recognised (retrieval did not abstain); unknown
facts (no cluster, pod gone) contradict nothing; the replacement must be the one most specific
runbook whose declared state holds, else nothing changes and the alert's runbook's own
predicates decide (they fail, so the incident escalates).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.decide.facts import Facts
from orchestrator.decide.predicates import all_hold, evaluate_all
from orchestrator.knowledge.chunks import chunk_runbook
from orchestrator.knowledge.hits import Hit
from orchestrator.knowledge.runbook import Runbook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Redirect:
    """The alert's runbook, contradicted, and the runbook the cluster's state calls for."""

    contradicted: str
    shown: Runbook
    why: str


def contradiction(runbook: Runbook, facts: Facts) -> str | None:
    """Why the facts contradict the runbook's declared state, or None (agree, or unknown)."""
    if not runbook.shows:
        return None
    failed = [v for v in evaluate_all(runbook.shows, facts) if v.known and not v.holds]
    return "; ".join(v.describe() for v in failed) or None


def redirect(top: Runbook, catalog: Sequence[Runbook], facts: Facts) -> Redirect | None:
    """The runbook to follow instead of `top`, when the cluster contradicts `top`'s state and
    exactly one most specific runbook's declared state holds."""
    why = contradiction(top, facts)
    if why is None:
        return None
    shown = [rb for rb in catalog if rb.id != top.id and all_hold(rb.shows, facts)]
    if not shown:
        return None
    most = max(len(rb.shows) for rb in shown)
    best = [rb for rb in shown if len(rb.shows) == most]
    if len(best) > 1:
        log.info("cluster contradicts runbook %s (%s) but shows the states of %s: not choosing",
                 top.id, why, ", ".join(rb.id for rb in best))
        return None
    return Redirect(contradicted=top.id, shown=best[0], why=why)


def follow_cluster(hits: list[Hit], runbooks: dict[str, Runbook], catalog: Sequence[Runbook],
                   facts: Facts) -> tuple[list[Hit], dict[str, Runbook], Redirect | None]:
    """Hits and runbooks re-ranked so the runbook the cluster shows comes first (see the module
    docstring); unchanged when retrieval abstained or nothing contradicts the top runbook."""
    if not hits or hits[0].runbook not in runbooks:
        return hits, runbooks, None
    top = runbooks[hits[0].runbook]
    found = redirect(top, catalog, facts)
    if found is None:
        return hits, runbooks, None
    shown = found.shown
    first = next(iter(chunk_runbook(shown)), None)
    # The incident was recognised with the alert's own match strength; the cluster chose which
    # runbook answers it.
    lead = Hit(runbook=shown.id, score=hits[0].score, retriever="cluster",
               heading=first.heading if first else "", chunk_id=first.chunk_id if first else
               f"{shown.id}#", text=first.text if first else "")
    ranked = [lead, *(h for h in hits if h.runbook != shown.id)]
    ordered = {shown.id: shown, **{k: v for k, v in runbooks.items() if k != shown.id}}
    log.info("cluster contradicts runbook %s (%s): following %s", top.id, found.why, shown.id)
    return ranked, ordered, found
