"""From `KnowledgeSettings` to the ports: one place decides which store, source and model.

The index command and the agent's retriever must agree on all three, so both build them here.
Nothing heavy happens at import or construction: Qdrant is opened by the returned `connect`, and
the vector store adapter is loaded only then (an agent whose alerts a runbook names never opens
it).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.adapters.embeddings import Embedder, embedder_for
from orchestrator.adapters.object_store import MinioStore, ObjectStore
from orchestrator.adapters.static_embeddings import MODEL as STATIC_MODEL
from orchestrator.adapters.static_embeddings import SemanticModel, StaticEmbedder
from orchestrator.errors import PermanentError
from orchestrator.knowledge.source import FolderSource, ObjectSource, RunbookSource
from orchestrator.settings.common import reveal
from orchestrator.settings.knowledge import KnowledgeSettings

if TYPE_CHECKING:
    from orchestrator.adapters.vectors import QdrantStore


def object_store(settings: KnowledgeSettings) -> ObjectStore | None:
    """MinIO when an endpoint is configured, else None (the runbooks folder is the source)."""
    if not settings.minio_endpoint:
        return None
    access, secret = reveal(settings.minio_access_key), reveal(settings.minio_secret_key)
    return MinioStore.connect(settings.minio_endpoint, access or "", secret or "",
                              settings.minio_bucket,
                              secure=settings.minio_secure, region=settings.minio_region)


def runbook_source(settings: KnowledgeSettings) -> RunbookSource:
    objects = object_store(settings)
    return ObjectSource(objects) if objects is not None else FolderSource(settings.runbooks_dir)


def embedder(settings: KnowledgeSettings) -> Embedder | None:
    return embedder_for(model=settings.embedding_model, api_key=reveal(settings.embedding_api_key),
                        dimensions=settings.embedding_dimensions,
                        base_url=settings.embedding_base_url,
                        timeout=settings.embedding_timeout_seconds)


def semantic_model(settings: KnowledgeSettings) -> SemanticModel | None:
    """The offline semantic model, or None for `none`; it loads its table on first use."""
    name = settings.semantic_model.strip().lower()
    if name == "none":
        return None
    if name != STATIC_MODEL:
        raise PermanentError(f"unknown semantic model {settings.semantic_model!r}: use "
                             f"{STATIC_MODEL!r} or 'none'")
    return StaticEmbedder()


def connect_store(settings: KnowledgeSettings, *, path: Path | None = None) -> QdrantStore:
    """The configured Qdrant: `path` (a CLI `--store`) overrides the settings' local path."""
    from orchestrator.adapters.vectors import QdrantStore

    if settings.qdrant_url and path is None:
        return QdrantStore.connect(url=settings.qdrant_url, api_key=reveal(settings.qdrant_api_key),
                                   timeout=settings.qdrant_timeout_seconds)
    return QdrantStore.connect(path=path or settings.local_store())


def retriever_parts(settings: KnowledgeSettings, *, path: Path | None = None) -> dict[str, Any]:
    """Keyword arguments for `Retriever(...)`."""
    return {
        "source": runbook_source(settings),
        "connect": functools.partial(connect_store, settings, path=path),
        "collection": settings.collection,
        "embedder": embedder(settings),
        "min_bm25": settings.min_bm25_score,
        "min_dense": settings.min_dense_score,
        "min_coverage": settings.min_coverage_score,
        "semantic": semantic_model(settings),
        "min_semantic": settings.min_semantic_score,
        "candidates": settings.candidates,
    }
