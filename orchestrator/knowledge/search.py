"""Retrieval: which runbooks apply to an alert, ranked, or none (abstain).

Exact matches come first (see `exact.py`). Then hybrid search: BM25 over sparse vectors and,
when a model is configured, dense embeddings, each judged on its own 0..1 relevance (BM25 as a
fraction of the best score any chunk could reach for this query, dense as cosine) and cut at its
own threshold *before* the two rankings are fused with reciprocal rank fusion: an RRF score is a
rank, not a relevance, so it cannot be what decides "no runbook applies". A BM25 candidate must
also cover the alert's problem words (`coverage.py`): shared vocabulary is not an explanation.
When Qdrant is down or not yet indexed, the raw runbooks are read and ranked in-process with the
same arithmetic.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.adapters.embeddings import Embedder
from orchestrator.adapters.static_embeddings import SemanticModel
from orchestrator.adapters.vectors import Scored, VectorStore
from orchestrator.errors import PermanentError, TransientError
from orchestrator.events import Alert
from orchestrator.knowledge.chunks import chunk_runbook
from orchestrator.knowledge.coverage import MIN_COVERAGE, CoverageQuery, runbook_terms
from orchestrator.knowledge.exact import Entry, exact_matches
from orchestrator.knowledge.hits import Hit, RetrieverName
from orchestrator.knowledge.index import CATALOG_ID
from orchestrator.knowledge.names import MIN_NAME, name_scores, spelled
from orchestrator.knowledge.query import (
    alert_fields,
    alert_text,
    chunk_fields,
    core_fields,
    section_text,
    semantic_text,
    summary_text,
)
from orchestrator.knowledge.runbook import Runbook
from orchestrator.knowledge.source import RunbookSource
from orchestrator.knowledge.sparse import (
    Bm25Scorer,
    CorpusStats,
    SparseVector,
    query_vector,
    weighted_terms,
)
from orchestrator.settings.knowledge import KnowledgeSettings

log = logging.getLogger(__name__)

RRF_K = 60
# A runbook's score adds this share of its other matching chunks to its best one: a runbook
# whose several sections match beats one with a single lucky paragraph.
SECTION_SHARE = 0.1
_CATALOG_TTL = 60.0
# Semantic relevance floor (centred cosine, see adapters/static_embeddings.py): on the test
# alerts (tests/events/retrieval_alerts.jsonl) alerts no packaged runbook covers reach at most
# 0.52 with any runbook, while a third of the covered ones clear 0.6.
MIN_SEMANTIC = 0.6


class _Ranked:
    """One runbook's standing in one retriever.

    `relevance` (best chunk alone, 0..1) decides abstention: one section must explain the alert.
    `score` (0..1, the best chunk plus a share of the runbook's other matching sections) ranks.
    `coverage` (0..1, BM25 only) must clear its own floor too: the whole runbook must use the
    alert's problem words, not just share some of its vocabulary.
    """

    def __init__(self, relevance: float, score: float, chunk: dict[str, Any]) -> None:
        self.relevance, self.score, self.chunk = relevance, score, chunk
        self.coverage = 1.0


def rank_runbooks(scored: Sequence[Scored], *, norm: float,
                  share: float = SECTION_SHARE) -> dict[str, _Ranked]:
    """Chunk hits → runbook scores; `norm` maps a raw chunk score into 0..1."""
    by_runbook: dict[str, list[Scored]] = {}
    for s in scored:
        if s.score > 0 and s.payload.get("kind", "chunk") == "chunk":
            by_runbook.setdefault(str(s.payload.get("runbook")), []).append(s)
    out = {}
    for rid, hits in by_runbook.items():
        hits.sort(key=lambda s: -s.score)
        total = hits[0].score + share * sum(s.score for s in hits[1:])
        relevance = min(1.0, hits[0].score / norm) if norm > 0 else 0.0
        shown = min(1.0, total / norm) if norm > 0 else 0.0
        out[rid] = _Ranked(relevance, shown, hits[0].payload)
    return out


class Retriever:
    """The knowledge base as the agent sees it. Build with `from_settings` or from parts."""

    def __init__(self, *, source: RunbookSource, store: VectorStore | None = None,
                 connect: Callable[[], VectorStore] | None = None, collection: str = "runbooks",
                 embedder: Embedder | None = None, min_bm25: float = 0.15,
                 min_dense: float = 0.62, min_coverage: float = MIN_COVERAGE,
                 semantic: SemanticModel | None = None, min_semantic: float = MIN_SEMANTIC,
                 min_name: float = MIN_NAME, candidates: int = 64) -> None:
        self.source = source
        self.collection = collection
        self.embedder = embedder
        self.min_bm25, self.min_dense, self.candidates = min_bm25, min_dense, candidates
        self.min_coverage = min_coverage
        self.semantic, self.min_semantic = semantic, min_semantic
        self.min_name = min_name
        self._store = store
        self._connect = connect
        # One query at a time per process: qdrant-client's local mode is not made for threads,
        # and a query takes milliseconds.
        self._lock = threading.RLock()
        self._catalog: tuple[float, dict[str, Any]] | None = None
        self._terms: dict[str, dict[int, float]] = {}
        self._chunks: tuple[tuple[str, ...], list[dict[str, Any]]] | None = None
        self._local: tuple[tuple[str, ...], list[Runbook], Bm25Scorer, list[dict[str, Any]],
                           dict[str, dict[int, float]]] | None = None

    @classmethod
    def from_settings(cls, settings: KnowledgeSettings) -> Retriever:
        """Nothing connects here: Qdrant and the embedder are opened on the first search."""
        from orchestrator.knowledge.wiring import retriever_parts

        return cls(**retriever_parts(settings))

    # -- public API ---------------------------------------------------------------------------

    def search(self, alert: Alert, *, top: int = 5) -> list[Hit]:
        """Ranked runbooks for the alert; an empty list means abstain (no runbook applies)."""
        try:
            with self._lock:
                return self._search_index(alert, top=top)
        except TransientError as e:
            log.warning("runbook index unavailable, ranking the raw runbooks: %s", e)
        with self._lock:
            return self._search_raw(alert, top=top)

    def runbook(self, runbook_id: str) -> Runbook | None:
        """The whole runbook (front matter and body), or None when there is none by that id."""
        path = None
        if self._catalog is not None:
            entry = self._catalog[1].get("runbooks", {}).get(runbook_id)
            path = entry.get("path") if isinstance(entry, dict) else None
        return self.source.get(runbook_id, path=path)

    def catalog(self) -> list[Runbook]:
        """Every runbook, as the source holds it now."""
        return self.source.all()

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._connect is not None:
                self._store.close()
                self._store = None

    # -- the index path ---------------------------------------------------------------------

    def _store_and_catalog(self) -> tuple[VectorStore, dict[str, Any]]:
        with self._lock:
            if self._store is None:
                if self._connect is None:
                    raise TransientError("no vector store configured")
                self._store = self._connect()
            now = time.monotonic()
            if self._catalog is None or now - self._catalog[0] > _CATALOG_TTL:
                found = self._store.get(self.collection, CATALOG_ID)
                if not found:
                    raise TransientError(f"collection {self.collection!r} is not indexed")
                self._terms = _catalog_terms(found, self.collection)
                self._catalog = (now, found)
            return self._store, self._catalog[1]

    def _search_index(self, alert: Alert, *, top: int) -> list[Hit]:
        store, catalog = self._store_and_catalog()
        entries = [Entry(rid, str(e.get("name", "")), tuple(e.get("alerts") or ()))
                   for rid, e in (catalog.get("runbooks") or {}).items()]
        stats = CorpusStats.from_payload(catalog)
        qv, norm = _sparse_query(alert, stats)
        sparse = store.search_sparse(self.collection, qv.indices, qv.values,
                                     limit=self.candidates)
        rankings: dict[RetrieverName, dict[str, _Ranked]] = {
            "bm25": _covered(rank_runbooks(sparse, norm=norm), alert, stats, self._terms)}
        if self.embedder is not None and catalog.get("embedding_model") == self.embedder.model:
            try:
                vec = self.embedder.embed([alert_text(alert)], task="query")[0]
                dense = store.search_dense(self.collection, vec, limit=self.candidates)
                rankings["dense"] = rank_runbooks(dense, norm=1.0, share=0.0)
            except TransientError as e:
                log.warning("dense retrieval skipped: %s", e)
        self._add_semantic(rankings, alert, lambda: self._indexed_chunks(store, catalog))
        exact = [e.id for e, _ in exact_matches(alert, entries)]
        named = name_scores(alert, entries)
        return self._merge(exact, rankings, top=top, first_chunk=self._first_chunk,
                           named=named, spelled_lead=spelled(alert, entries))

    def _indexed_chunks(self, store: VectorStore, catalog: dict[str, Any]) -> list[dict[str, Any]]:
        """Every indexed chunk's payload, read again only when a runbook's hash changed."""
        runbooks = catalog.get("runbooks") or {}
        key = tuple(f"{rid}:{e.get('hash')}" for rid, e in sorted(runbooks.items()))
        if self._chunks is None or self._chunks[0] != key:
            payloads = [p for p in store.payloads(self.collection).values()
                        if p.get("kind") == "chunk"]
            payloads.sort(key=lambda p: (str(p.get("runbook")), int(p.get("position") or 0)))
            self._chunks = (key, payloads)
        return self._chunks[1]

    def _first_chunk(self, runbook_id: str) -> dict[str, Any]:
        store, catalog = self._store_and_catalog()
        entry = (catalog.get("runbooks") or {}).get(runbook_id) or {}
        point = entry.get("first_chunk")
        payload = store.get(self.collection, point) if point else None
        return payload or {"runbook": runbook_id}

    # -- the fallback path ------------------------------------------------------------------

    def _search_raw(self, alert: Alert, *, top: int) -> list[Hit]:
        runbooks, scorer, payloads, terms = self._raw_index()
        entries = [Entry(rb.id, rb.name, tuple(rb.alerts)) for rb in runbooks]
        qv, norm = _sparse_query(alert, scorer.stats)
        scored = [Scored(id=p["chunk_id"], score=s, payload=p)
                  for p, s in zip(payloads, scorer.scores(qv), strict=True)]
        rankings: dict[RetrieverName, dict[str, _Ranked]] = {
            "bm25": _covered(rank_runbooks(scored, norm=norm), alert, scorer.stats, terms)}
        self._add_semantic(rankings, alert, lambda: payloads)
        first = {p["runbook"]: p for p in reversed(payloads)}
        exact = [e.id for e, _ in exact_matches(alert, entries)]
        named = name_scores(alert, entries)
        return self._merge(exact, rankings, top=top,
                           first_chunk=lambda rid: first.get(rid, {"runbook": rid}),
                           named=named, spelled_lead=spelled(alert, entries))

    def _raw_index(self) -> tuple[list[Runbook], Bm25Scorer, list[dict[str, Any]],
                                  dict[str, dict[int, float]]]:
        runbooks = self.source.all()
        hashes = tuple(rb.content_hash for rb in runbooks)
        if self._local is None or self._local[0] != hashes:
            chunks = [c for rb in runbooks for c in chunk_runbook(rb)]
            tfs = [weighted_terms(chunk_fields(c)) for c in chunks]
            per_runbook: dict[str, list[dict[str, float]]] = {}
            for c, tf in zip(chunks, tfs, strict=True):
                per_runbook.setdefault(c.runbook, []).append(tf)
            terms = {rid: runbook_terms(tf) for rid, tf in per_runbook.items()}
            self._local = (hashes, runbooks, Bm25Scorer(tfs), [c.payload() for c in chunks],
                           terms)
        return self._local[1:]

    # -- the semantic retriever ------------------------------------------------------------

    def _add_semantic(self, rankings: dict[RetrieverName, dict[str, _Ranked]], alert: Alert,
                      chunks: Callable[[], list[dict[str, Any]]]) -> None:
        """Rank runbooks by the offline model's cosine between the alert and each section.

        Besides its sections, each runbook is also compared as its title and name alone: a
        static embedding of a long section averages many words, its title says what it is
        about in a few.
        """
        if self.semantic is None:
            return
        payloads = list(chunks())
        first = {str(p.get("runbook")): p for p in reversed(payloads)}
        texts = [section_text(str(p.get("title", "")), str(p.get("heading", "")),
                              str(p.get("text", ""))) for p in payloads]
        texts += [f"{p.get('title', '')}\n{_words_of(rid)}" for rid, p in first.items()]
        payloads += list(first.values())
        try:
            sims = self.semantic.similarities(semantic_text(alert), texts)
            headline = summary_text(alert)
            if headline:
                # The summary is a headline, as a runbook's title is: it is compared on its own
                # too, and counts half when that raises the cosine (the whole of it would lift
                # every runbook whose title shares one word with a short summary, covered or
                # not; it never lowers what the whole alert reached).
                alone = self.semantic.similarities(headline, texts)
                sims = [max(a, (a + b) / 2) for a, b in zip(sims, alone, strict=True)]
        except PermanentError as e:
            log.error("semantic retrieval skipped: %s", e)
            return
        scored = [Scored(id=str(p.get("chunk_id")), score=sim, payload=p)
                  for p, sim in zip(payloads, sims, strict=True)]
        rankings["semantic"] = rank_runbooks(scored, norm=1.0, share=0.0)

    # -- merging ----------------------------------------------------------------------------

    def _merge(self, exact: list[str], rankings: dict[RetrieverName, dict[str, _Ranked]], *,
               top: int, first_chunk: Callable[[str], dict[str, Any]],
               named: dict[str, float] | None = None,
               spelled_lead: str | None = None) -> list[Hit]:
        floors = {"bm25": self.min_bm25, "dense": self.min_dense, "semantic": self.min_semantic}
        kept = {name: {rid: r for rid, r in ranked.items()
                       if r.relevance >= floors[name] and r.coverage >= self.min_coverage}
                for name, ranked in rankings.items()}
        found = {rid for ranked in kept.values() for rid in ranked}
        # The expression's names corroborate (see names.py): one more RRF ranking over the
        # runbooks already kept, never a hit of its own, never the hit's score or section.
        corroborated = sorted((rid for rid, v in (named or {}).items()
                               if rid in found and v >= self.min_name),
                              key=lambda rid: -(named or {})[rid])
        hits: list[Hit] = []
        for rid in exact:
            best = max((r[rid] for r in rankings.values() if rid in r),
                       key=lambda r: r.relevance, default=None)
            hits.append(_hit(rid, 1.0, "exact", best.chunk if best else first_chunk(rid)))
        # The expression spells exactly one runbook's whole name: it leads the fused ranking,
        # even when the alert's prose is generic ("Target disappeared from ..."), but never
        # turns an abstention into an answer.
        lead = spelled_lead if (found or exact) else None
        if lead is not None and lead not in exact and len(hits) < top:
            ranks = [r[lead] for r in rankings.values() if lead in r]
            best = max(ranks, key=lambda r: r.relevance, default=None)
            hits.append(_hit(lead, round(best.relevance, 4) if best else 0.0, "name",
                             best.chunk if best else first_chunk(lead)))
        fused: dict[str, float] = {}
        orders = [sorted(ranked, key=lambda rid: -ranked[rid].score) for ranked in kept.values()]
        for order in [*orders, corroborated]:
            for pos, rid in enumerate(order, 1):
                fused[rid] = fused.get(rid, 0.0) + 1.0 / (RRF_K + pos)
        for rid in sorted(fused, key=lambda rid: -fused[rid]):
            if len(hits) >= top:
                break
            if rid in exact or rid == lead:
                continue
            votes = {name: r[rid] for name, r in kept.items() if rid in r}
            name, best = max(votes.items(), key=lambda kv: kv[1].relevance)
            how: RetrieverName = "fused" if len(votes) > 1 else name
            hits.append(_hit(rid, round(best.score, 4), how, best.chunk))
        return hits[:top]


def _sparse_query(alert: Alert, stats: CorpusStats) -> tuple[SparseVector, float]:
    """The BM25 query vector, and the raw score that counts as relevance 1.0 for it."""
    qv = query_vector(weighted_terms(alert_fields(alert)))
    return qv, stats.max_score(query_vector(weighted_terms(core_fields(alert))))


def _covered(ranked: dict[str, _Ranked], alert: Alert, stats: CorpusStats,
             terms: dict[str, dict[int, float]]) -> dict[str, _Ranked]:
    """Set each BM25 candidate's coverage of the alert's problem words."""
    query = CoverageQuery.of(alert, stats)
    for rid, r in ranked.items():
        r.coverage = query.score(terms.get(rid, {}))
    return ranked


def _catalog_terms(catalog: dict[str, Any], collection: str) -> dict[str, dict[int, float]]:
    """Each runbook's term frequencies from the catalog (see `index.py`)."""
    out: dict[str, dict[int, float]] = {}
    for rid, entry in (catalog.get("runbooks") or {}).items():
        raw = entry.get("terms") if isinstance(entry, dict) else None
        if not isinstance(raw, dict):
            raise TransientError(f"collection {collection!r} was indexed without runbook term "
                                 "frequencies: run `orchestrator runbooks index` again")
        out[rid] = {int(k): float(v) for k, v in raw.items()}
    return out


def _words_of(runbook_id: str) -> str:
    """A runbook's file name as words: `kubernetes/KubePodCrashLooping` → Kube Pod Crash Looping."""
    return " ".join(re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+",
                               runbook_id.rsplit("/", 1)[-1]))


def _hit(rid: str, score: float, how: RetrieverName, chunk: dict[str, Any]) -> Hit:
    return Hit(runbook=rid, score=score, heading=str(chunk.get("heading", "")), retriever=how,
               chunk_id=str(chunk.get("chunk_id", f"{rid}#")), text=str(chunk.get("text", "")))
