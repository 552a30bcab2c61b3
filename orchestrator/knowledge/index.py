"""Hydration: a folder of runbooks into the object store (raw files) and Qdrant (chunks).

Idempotent by content hash, so the Helm init Job and `orchestrator up` can run it on every
start: an unchanged runbook is skipped, a changed one has its chunks replaced, a removed one is
deleted. A catalog point (no vectors, so no search ever returns it) records what was indexed and
the corpus statistics retrieval needs to turn BM25 scores into 0..1 relevance, and each runbook's
term frequencies, which coverage (`coverage.py`) is measured against. The catalog is rewritten on
every run, so an index made before coverage existed gains them on the next run.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.adapters.embeddings import Embedder
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.adapters.vectors import Point, VectorStore
from orchestrator.knowledge.chunks import Chunk, chunk_runbook
from orchestrator.knowledge.coverage import runbook_terms
from orchestrator.knowledge.query import chunk_fields, chunk_text
from orchestrator.knowledge.runbook import Runbook, iter_markdown, load_folder
from orchestrator.knowledge.source import OBJECT_PREFIX
from orchestrator.knowledge.sparse import CorpusStats, doc_vector, weighted_terms

log = logging.getLogger(__name__)

CATALOG_ID = str(uuid.UUID("00000000-0000-4000-8000-00000000c0de"))
# Bump when tokenization or weighting changes: every chunk's sparse vector must be rebuilt.
SPARSE_VERSION = 1
# Past this drift of the mean chunk length, every chunk is re-weighted, not just changed ones.
_AVGDL_DRIFT = 0.1

Progress = Callable[[int, int, str], None]
"""(done, total, label): called as runbooks are processed."""


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks_written: int = 0
    objects_written: int = 0
    objects_removed: int = 0

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged, {len(self.removed)} removed; "
                f"{self.chunks_written} chunks written, {self.objects_written} raw files stored, "
                f"{self.objects_removed} raw files removed")


def sync_objects(source: Path, objects: ObjectStore, report: IndexReport) -> None:
    """Mirror the folder's markdown files under `runbooks/` in the object store."""
    wanted = {OBJECT_PREFIX + rel: file.read_bytes() for rel, file in iter_markdown(source)}
    for key in objects.list(OBJECT_PREFIX):
        if key not in wanted:
            objects.delete(key)
            report.objects_removed += 1
    for key, data in wanted.items():
        old = objects.get(key)
        if old is None or hashlib.sha256(old).digest() != hashlib.sha256(data).digest():
            objects.put(key, data, content_type="text/markdown; charset=utf-8")
            report.objects_written += 1


def _catalog_entry(rb: Runbook, chunks: Sequence[Chunk],
                   terms: dict[str, dict[str, float]]) -> dict[str, Any]:
    tf = runbook_terms(terms[c.chunk_id] for c in chunks)
    return {"hash": rb.content_hash, "path": rb.path, "name": rb.name, "title": rb.title,
            "alerts": list(rb.alerts), "first_chunk": chunks[0].point_id,
            "terms": {str(i): round(f, 3) for i, f in sorted(tf.items())}}


def index_runbooks(*, source: Path, store: VectorStore, collection: str,
                   objects: ObjectStore | None = None, embedder: Embedder | None = None,
                   progress: Progress | None = None) -> IndexReport:
    """Bring the index in line with `source`; see the module docstring for what is skipped."""
    report = IndexReport()
    runbooks = load_folder(source, strict=True)
    if objects is not None:
        sync_objects(source, objects, report)
    recreated = store.ensure_collection(collection, dense_size=embedder.dimensions
                                        if embedder else None)
    old_catalog = {} if recreated else (store.get(collection, CATALOG_ID) or {})
    chunks = {rb.id: chunk_runbook(rb) for rb in runbooks}
    terms = {c.chunk_id: weighted_terms(chunk_fields(c)) for cs in chunks.values() for c in cs}
    stats = CorpusStats.of(list(terms.values()))
    model = embedder.model if embedder else "none"
    old_avgdl = float(old_catalog.get("avgdl") or 0.0)
    rebuild_all = (
        old_catalog.get("sparse_version") != SPARSE_VERSION
        or old_catalog.get("embedding_model", "none") != model
        or abs(old_avgdl - stats.avgdl) > _AVGDL_DRIFT * stats.avgdl
    )
    old_runbooks: dict[str, Any] = old_catalog.get("runbooks") or {}
    existing = {} if recreated else store.payloads(collection)
    points_by_runbook: dict[str, list[str]] = {}
    for pid, payload in existing.items():
        if payload.get("kind") == "chunk":
            points_by_runbook.setdefault(str(payload.get("runbook")), []).append(pid)

    # One avgdl for the whole corpus: skipped runbooks keep the weights they were written with,
    # which stay valid while the mean length drifts less than _AVGDL_DRIFT.
    avgdl = stats.avgdl if rebuild_all or not old_avgdl else old_avgdl
    total = len(runbooks)
    for done, rb in enumerate(runbooks, 1):
        old = old_runbooks.get(rb.id)
        fresh = rb.id in points_by_runbook and old is not None and old.get("hash") == \
            rb.content_hash and old.get("path") == rb.path
        if fresh and not rebuild_all:
            report.unchanged.append(rb.id)
        else:
            (report.updated if rb.id in points_by_runbook else report.added).append(rb.id)
            _write(store, collection, chunks[rb.id], terms, avgdl=avgdl, embedder=embedder,
                   stale=points_by_runbook.get(rb.id, []))
            report.chunks_written += len(chunks[rb.id])
        if progress:
            progress(done, total, rb.id)

    ids = {rb.id for rb in runbooks}
    for gone in sorted(set(points_by_runbook) - ids):
        store.delete(collection, points_by_runbook[gone])
        report.removed.append(gone)
    catalog = {"kind": "catalog", "sparse_version": SPARSE_VERSION, "embedding_model": model,
               **stats.to_payload(), "avgdl": avgdl,
               "runbooks": {rb.id: _catalog_entry(rb, chunks[rb.id], terms) for rb in runbooks}}
    store.upsert(collection, [Point(id=CATALOG_ID, payload=catalog)])
    log.info("runbook index %s: %s", collection, report.summary())
    return report


def _write(store: VectorStore, collection: str, chunks: Sequence[Chunk],
           terms: dict[str, Any], *, avgdl: float, embedder: Embedder | None,
           stale: Sequence[str]) -> None:
    dense: list[list[float]] | list[None] = [None] * len(chunks)
    if embedder is not None:
        dense = embedder.embed([chunk_text(c) for c in chunks], task="document")
    points = []
    for c, vec in zip(chunks, dense, strict=True):
        sv = doc_vector(terms[c.chunk_id], avgdl=avgdl)
        points.append(Point(id=c.point_id, payload=c.payload(),
                            sparse=(sv.indices, sv.values), dense=vec))
    keep = {p.id for p in points}
    store.delete(collection, [pid for pid in stale if pid not in keep])
    store.upsert(collection, points)
