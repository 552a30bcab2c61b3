"""What retrieval answers: one ranked runbook section (`Hit`), whichever retriever found it.

Kept apart from `search.py` so the code that only reads hits (the planners, the exact matcher)
does not load the hybrid search: a cold agent whose alert names a runbook never needs BM25,
embeddings or the vector store adapter.
"""

from __future__ import annotations

from typing import Literal

from orchestrator.models import Frozen

RetrieverName = Literal["exact", "bm25", "dense", "semantic", "fused", "name", "cluster"]
"""`cluster`: not a retriever but the agent's re-ranking by what the cluster shows
(`orchestrator/decide/evidence.py`)."""


class Hit(Frozen):
    runbook: str
    score: float
    """0..1: 1.0 for an exact match, else the retriever's own normalized score (for `fused`,
    the higher of the two); hits are ordered by it except that RRF orders fused hits."""
    heading: str
    retriever: RetrieverName
    chunk_id: str
    text: str
