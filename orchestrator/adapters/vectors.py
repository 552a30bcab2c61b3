"""Vector store: Qdrant, embedded on disk by default, a server when a URL is configured.

One collection holds the runbook chunks with two named vectors: `bm25` (sparse, Qdrant applies
IDF at query time) and, when an embedding model is configured, `dense` (cosine). A local `path=`
store admits one client per process at a time: the agent owns it while it runs, so indexing
happens before the agent starts (the embedded stack and the Helm init Job both do that).
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.errors import TransientError

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

log = logging.getLogger(__name__)

SPARSE = "bm25"
DENSE = "dense"


@dataclass(frozen=True)
class Point:
    """One point to write: its id (a UUID string), payload and vectors."""

    id: str
    payload: dict[str, Any]
    sparse: tuple[Sequence[int], Sequence[float]] | None = None
    dense: Sequence[float] | None = None


@dataclass(frozen=True)
class Scored:
    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


class VectorStore(Protocol):
    def ensure_collection(self, name: str, *, dense_size: int | None) -> bool:
        """Create the collection if needed; recreate it when its dense size changed.
        True when it was (re)created empty."""

    def upsert(self, name: str, points: Sequence[Point]) -> None: ...

    def delete(self, name: str, ids: Sequence[str]) -> None: ...

    def payloads(self, name: str) -> dict[str, dict[str, Any]]:
        """Every point's payload by id (the index keeps a few hundred chunks, not millions)."""

    def get(self, name: str, point_id: str) -> dict[str, Any] | None:
        """One point's payload, or None when it does not exist (or the collection does not)."""

    def search_sparse(self, name: str, indices: Sequence[int], values: Sequence[float], *,
                      limit: int) -> list[Scored]: ...

    def search_dense(self, name: str, vector: Sequence[float], *, limit: int) -> list[Scored]: ...

    def close(self) -> None: ...


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Qdrant's errors (HTTP, gRPC, local storage) become TransientError at this boundary."""
    unreachable = _client_errors()
    try:
        yield
    except TransientError:
        raise
    except ValueError as e:
        if "not found" not in str(e):
            raise
        # Local mode says "Collection ... not found" with a bare ValueError: not indexed yet.
        raise TransientError(f"qdrant {what} failed: {e}") from e
    except RuntimeError as e:
        if "already accessed" in str(e):
            raise TransientError(f"qdrant store is open in another process: {e}") from e
        raise TransientError(f"qdrant {what} failed: {e}") from e
    except unreachable as e:
        raise TransientError(f"qdrant {what} failed: {type(e).__name__}: {e}") from e


def _client_errors() -> tuple[type[BaseException], ...]:
    """What qdrant-client raises when the server refuses, fails or cannot be reached: its own
    exception trees (REST answers, a 429's Retry-After), gRPC's and httpx's, and the socket's.
    Imported here, not at module import (cold start); the client has loaded them all by then."""
    try:
        import grpc  # type: ignore[import-untyped]  # no stubs; qdrant-client loads it
        import httpx
        from qdrant_client.common.client_exceptions import QdrantException
        from qdrant_client.http.exceptions import ApiException
    except ImportError:  # no client installed: none of its errors can be raised
        return (OSError, TimeoutError)
    return (ApiException, QdrantException, grpc.RpcError, httpx.HTTPError, OSError, TimeoutError)


def _check_unlocked(path: Path) -> None:
    """Fail fast, and cleanly, when another client holds the local store.

    qdrant-client takes the same `flock` only after reading the whole store, and leaks its lock
    file handle when that fails; probing first gives a clear error and leaks nothing.
    """
    lock = path / ".lock"
    if not lock.exists():
        return
    with lock.open("r+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            raise TransientError(
                f"qdrant store {path} is open in another process (one client at a time in local "
                "mode: stop the agent, or use a Qdrant server)") from e
        fcntl.flock(f, fcntl.LOCK_UN)


class QdrantStore:
    """The VectorStore over a qdrant-client instance passed in (or made by `connect`)."""

    def __init__(self, client: QdrantClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, *, url: str | None = None, path: Path | None = None,
                api_key: str | None = None, timeout: float = 5.0) -> QdrantStore:
        """A server at `url`, else the embedded store at `path`, else an in-memory one."""
        with _translated("connect"):
            from qdrant_client import QdrantClient

            if url:
                # No version probe: it costs a round trip per cold start and runs in a thread
                # whose failure nobody can catch; the API used here is stable across versions.
                client = QdrantClient(url=url, api_key=api_key, timeout=int(max(timeout, 1)),
                                      check_compatibility=False)
            elif path is not None:
                Path(path).mkdir(parents=True, exist_ok=True)
                _check_unlocked(Path(path))
                client = QdrantClient(path=str(path))
            else:
                client = QdrantClient(location=":memory:")
        return cls(client)

    def ensure_collection(self, name: str, *, dense_size: int | None) -> bool:
        from qdrant_client import models

        with _translated("collection setup"):
            if self.client.collection_exists(name):
                info = self.client.get_collection(name)
                vectors = info.config.params.vectors
                params = vectors.get(DENSE) if isinstance(vectors, dict) else None
                current = params.size if params is not None else None
                if current == dense_size:
                    return False
                log.info("collection %s: dense size %s -> %s, recreating", name, current,
                         dense_size)
                self.client.delete_collection(name)
            dense = {DENSE: models.VectorParams(size=dense_size, distance=models.Distance.COSINE)} \
                if dense_size else {}
            self.client.create_collection(
                name, vectors_config=dense,
                sparse_vectors_config={SPARSE: models.SparseVectorParams(
                    modifier=models.Modifier.IDF)},
            )
            return True

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        from qdrant_client import models

        structs = []
        for p in points:
            vector: dict[str, Any] = {}
            if p.sparse is not None:
                vector[SPARSE] = models.SparseVector(indices=list(p.sparse[0]),
                                                     values=list(p.sparse[1]))
            if p.dense is not None:
                vector[DENSE] = list(p.dense)
            structs.append(models.PointStruct(id=p.id, vector=vector, payload=p.payload))
        if structs:
            with _translated("upsert"):
                self.client.upsert(name, points=structs, wait=True)

    def delete(self, name: str, ids: Sequence[str]) -> None:
        from qdrant_client import models

        if ids:
            with _translated("delete"):
                self.client.delete(name, points_selector=models.PointIdsList(points=list(ids)),
                                   wait=True)

    def payloads(self, name: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        offset: Any = None
        with _translated("scroll"):
            while True:
                records, offset = self.client.scroll(name, limit=256, offset=offset,
                                                     with_payload=True, with_vectors=False)
                for r in records:
                    out[str(r.id)] = dict(r.payload or {})
                if offset is None:
                    return out

    def get(self, name: str, point_id: str) -> dict[str, Any] | None:
        with _translated("retrieve"):
            if not self.client.collection_exists(name):
                return None
            found = self.client.retrieve(name, ids=[point_id], with_payload=True)
        return dict(found[0].payload or {}) if found else None

    def search_sparse(self, name: str, indices: Sequence[int], values: Sequence[float], *,
                      limit: int) -> list[Scored]:
        from qdrant_client import models

        if not indices:
            return []
        query = models.SparseVector(indices=list(indices), values=list(values))
        return self._query(name, query, SPARSE, limit)

    def search_dense(self, name: str, vector: Sequence[float], *, limit: int) -> list[Scored]:
        return self._query(name, list(vector), DENSE, limit)

    def _query(self, name: str, query: Any, using: str, limit: int) -> list[Scored]:
        with _translated("query"):
            res = self.client.query_points(name, query=query, using=using, limit=limit,
                                           with_payload=True)
        return [Scored(id=str(p.id), score=float(p.score), payload=dict(p.payload or {}))
                for p in res.points]

    def close(self) -> None:
        with _translated("close"):
            self.client.close()
