"""Retrieval for the offline planner: an exact alert → runbook match needs no index.

The offline planner consults only the best-ranked runbook, and an exact match (the alertname in
a runbook's `alerts`, its `runbook_url`, its file name) always ranks first. So when there is one,
the raw runbooks answer and Qdrant is not touched: a cold agent then never imports qdrant-client
(0.5-1.3 s) for the alerts the runbooks name, which is most of them. Alerts without an exact
match go to the full hybrid search. With an LLM configured the full search always runs: the
model may cite a lower-ranked runbook, so it is shown several.
"""

from __future__ import annotations

import logging

from orchestrator.events import Alert
from orchestrator.knowledge.chunks import chunk_runbook
from orchestrator.knowledge.exact import Entry, exact_matches
from orchestrator.knowledge.runbook import Runbook
from orchestrator.knowledge.search import Hit, Retriever

log = logging.getLogger(__name__)


class ExactFirst:
    """The Retriever, preceded by exact matching over the raw runbooks."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def search(self, alert: Alert, *, top: int = 5) -> list[Hit]:
        hits = exact_hits(self.retriever.source.all(), alert)
        if hits:
            return hits[:top]
        return self.retriever.search(alert, top=top)

    def runbook(self, runbook_id: str) -> Runbook | None:
        return self.retriever.runbook(runbook_id)

    def catalog(self) -> list[Runbook]:
        return self.retriever.catalog()

    def close(self) -> None:
        self.retriever.close()


def exact_hits(runbooks: list[Runbook], alert: Alert) -> list[Hit]:
    """One exact hit per runbook the alert names, strongest rule first, citing its first
    section (what the alert means)."""
    by_id = {rb.id: rb for rb in runbooks}
    entries = [Entry(rb.id, rb.name, tuple(rb.alerts)) for rb in runbooks]
    hits = []
    for entry, how in exact_matches(alert, entries):
        chunks = chunk_runbook(by_id[entry.id])
        if not chunks:
            continue
        first = chunks[0]
        log.debug("exact match %s by %s", entry.id, how)
        hits.append(Hit(runbook=entry.id, score=1.0, heading=first.heading, retriever="exact",
                        chunk_id=first.chunk_id, text=first.text))
    return hits
