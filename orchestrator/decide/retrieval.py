"""Retrieval for the offline planner: an exact alert → runbook match needs no index.

The offline planner consults only the best-ranked runbook, and an exact match (the alertname in
a runbook's `alerts`, its `runbook_url`, its file name) always ranks first. So when there is one,
the raw runbooks answer and Qdrant is not touched: a cold agent then never imports qdrant-client
(0.5-1.3 s) for the alerts the runbooks name, which is most of them. Alerts without an exact
match go to the full hybrid search, which is built (and its modules loaded: BM25, names,
coverage, the vector store adapter) only then. With an LLM configured the full search always
runs: the model may cite a lower-ranked runbook, so it is shown several.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.events import Alert
from orchestrator.knowledge.chunks import chunk_runbook
from orchestrator.knowledge.exact import Entry, exact_matches
from orchestrator.knowledge.hits import Hit
from orchestrator.knowledge.runbook import Runbook
from orchestrator.knowledge.source import RunbookSource

if TYPE_CHECKING:
    from orchestrator.knowledge.search import Retriever

log = logging.getLogger(__name__)


class ExactFirst:
    """Exact matching over the raw runbooks of `source`, then the Retriever that `retriever`
    builds (over the same source) on the first alert no runbook names."""

    def __init__(self, source: RunbookSource, retriever: Callable[[], Retriever]) -> None:
        self.source = source
        self._build = retriever
        self._lock = threading.Lock()
        self._retriever: Retriever | None = None

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                self._retriever = self._build()
            return self._retriever

    def search(self, alert: Alert, *, top: int = 5) -> list[Hit]:
        # Matched on the front matter, then only the matches' PromQL is checked (`get`); one that
        # fails leaves the runbooks, and the rest are matched again, as if it had never loaded.
        runbooks = self.source.listed()
        while True:
            hits = exact_hits(runbooks, alert)
            unsound = {h.runbook for h in hits if self.source.get(h.runbook) is None}
            if not unsound:
                break
            runbooks = [rb for rb in runbooks if rb.id not in unsound]
        if hits:
            return hits[:top]
        return self.retriever.search(alert, top=top)

    def runbook(self, runbook_id: str) -> Runbook | None:
        # The Retriever knows a runbook's path from the index catalog once it searched; before
        # that, as it would, the source finds the runbook by id.
        built = self._retriever
        return built.runbook(runbook_id) if built is not None else self.source.get(runbook_id)

    def catalog(self) -> list[Runbook]:
        return self.source.all()

    def close(self) -> None:
        with self._lock:
            built, self._retriever = self._retriever, None
        if built is not None:
            built.close()


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
