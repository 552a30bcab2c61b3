"""Settings of the knowledge base (env prefix `KB_`): shared by the agent and the index command.

The agent and the Helm init Job that hydrates the store must agree on where the store is and on
the embedding model, so both read this one class rather than each keeping its own copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr

from orchestrator.resources import data_dir, runbooks_dir
from orchestrator.settings.common import LeanSettings


class KnowledgeSettings(LeanSettings):
    """Where runbooks come from, where their index lives, and when retrieval abstains."""

    env_prefix: ClassVar[str] = "KB_"

    runbooks_dir: Path = Field(default_factory=runbooks_dir)
    """Folder of markdown runbooks to index (default: the packaged `runbooks/`)."""

    qdrant_url: str | None = None
    """Qdrant server URL (e.g. `http://qdrant:6333`); when unset, local mode at `qdrant_path`."""

    qdrant_path: Path | None = None
    """Folder of the local (embedded) Qdrant store; None: `qdrant` in the per-user data folder
    that `orchestrator up` also uses, so `runbooks index` and `search` need no flags
    (`local_store`). One process may open it at a time."""

    qdrant_api_key: SecretStr | None = None
    """Qdrant API key for a server that requires one."""

    qdrant_timeout_seconds: float = 5.0
    """Per-request timeout towards a Qdrant server; past it retrieval falls back to raw files."""

    collection: str = "runbooks"
    """Qdrant collection holding the runbook chunks."""

    minio_endpoint: str | None = None
    """MinIO/S3 `host:port`; when set, raw runbooks are stored there and read back from there."""

    minio_access_key: SecretStr | None = None
    """MinIO access key."""

    minio_secret_key: SecretStr | None = None
    """MinIO secret key."""

    minio_bucket: str = Field(default="runbooks", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    """Bucket for the raw runbook files (keys `runbooks/<path>`)."""

    minio_secure: bool = False
    """Use TLS towards MinIO. Off by default: in-cluster traffic to the chart's MinIO is plain."""

    minio_region: str | None = None
    """S3 region, for servers that insist on one."""

    embedding_model: str = "none"
    """Dense model: `none` (sparse BM25 only) or a Gemini embedding model such as
    `gemini-embedding-001`. The index and the agent must use the same one."""

    embedding_dimensions: int = 768
    """Output dimensionality requested from the embedding model (smaller is cheaper to store)."""

    embedding_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KB_EMBEDDING_API_KEY", "GEMINI_API_KEY")
    )
    """API key for the embedding model; falls back to `GEMINI_API_KEY`."""

    embedding_base_url: str | None = None
    """Base URL of the Gemini API (a proxy or a test server); the SDK's default when unset."""

    embedding_timeout_seconds: float = 10.0
    """Timeout of one embedding request; past it the dense retriever is skipped for that query."""

    min_bm25_score: float = 0.15
    """BM25 relevance floor (0..1): the best chunk's score divided by the score a chunk holding
    every word of the alert's name and annotations would get. On the packaged runbooks, alerts
    they cover score 0.16-0.6 and alerts they do not (Watchdog, business KPIs) below 0.1."""

    min_dense_score: float = 0.62
    """Dense relevance floor: cosine similarity between alert and chunk embeddings (0..1)."""

    min_coverage_score: float = Field(default=0.3, ge=0, le=1)
    """Coverage floor (0..1) a BM25 match must also clear: the IDF-weighted share of the alert's
    problem words the runbook uses (`orchestrator.knowledge.coverage`). Raise it when alerts
    about systems your runbooks do not cover still get one; lower it when paraphrased alerts
    you do cover abstain. 0 switches the test off."""

    semantic_model: str = "minilm-l6-static"
    """Offline semantic retriever: `minilm-l6-static` (a static token-embedding table shipped
    in the package: no network, no key, no PyTorch) or `none`. It finds runbooks for renamed
    and paraphrased alerts whose words BM25 does not share, fused with BM25 by RRF."""

    min_semantic_score: float = Field(default=0.6, ge=0, le=1)
    """Semantic relevance floor: cosine between the alert's and a section's static embeddings,
    both taken relative to the sections' mean (0..1). Below it the semantic retriever casts no
    vote and cannot keep the search from abstaining. On the test alerts, alerts no runbook
    covers reach 0.52 at most."""

    candidates: int = 64
    """Chunks fetched per retriever before runbooks are ranked (several chunks per runbook)."""

    def local_store(self) -> Path:
        """Where the local Qdrant store is. The per-user folder is looked up only here, when a
        local store is opened: an agent answering from a runbook the alert names never does
        (platformdirs stays off its cold start)."""
        return self.qdrant_path or data_dir() / "qdrant"
