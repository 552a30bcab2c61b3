"""BM25 as sparse vectors, split the way Qdrant's `Modifier.IDF` expects.

Qdrant multiplies each query term by the collection's IDF at search time, so a document vector
carries only BM25's saturated term frequency and a query vector only the query's term weights.
Term ids are hashed tokens (no vocabulary file to keep in sync). `CorpusStats` keeps the document
frequencies too: they normalize a raw score into 0..1 for abstention, and they let `Bm25Scorer`
rank the raw runbooks in-process when Qdrant is down, with the same arithmetic.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.knowledge.tokenize import tokens

K1 = 1.2
B = 0.75


def term_id(token: str) -> int:
    """A stable 32-bit id for a token (Qdrant sparse indices are u32)."""
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big")


def weighted_terms(fields: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Term frequencies over weighted text fields (BM25F-style: a title counts more than prose)."""
    tf: dict[str, float] = {}
    for text, weight in fields:
        if weight <= 0 or not text:
            continue
        for tok in tokens(text):
            tf[tok] = tf.get(tok, 0.0) + weight
    return tf


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]

    def as_dict(self) -> dict[int, float]:
        return dict(zip(self.indices, self.values, strict=True))


def _merge(pairs: Iterable[tuple[int, float]]) -> SparseVector:
    # Two tokens may hash to one id; summing keeps the vector valid (unique indices).
    merged: dict[int, float] = {}
    for i, v in pairs:
        merged[i] = merged.get(i, 0.0) + v
    ids = sorted(merged)
    return SparseVector(indices=ids, values=[merged[i] for i in ids])


def doc_vector(tf: Mapping[str, float], *, avgdl: float) -> SparseVector:
    """BM25's term-frequency part for one document; IDF is applied by Qdrant at query time."""
    length = sum(tf.values())
    norm = K1 * (1 - B + B * length / max(avgdl, 1e-9))
    return _merge((term_id(t), f * (K1 + 1) / (f + norm)) for t, f in tf.items() if f > 0)


def query_vector(tf: Mapping[str, float]) -> SparseVector:
    """Query term weights; a repeated query term counts with diminishing returns."""
    return _merge((term_id(t), math.sqrt(f) if f > 1 else f) for t, f in tf.items() if f > 0)


def idf(n_docs: int, df: int) -> float:
    """Qdrant's IDF (the BM25 form), so in-process scores equal the server's."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class CorpusStats:
    """Document count, mean length and per-term document frequency of the indexed chunks."""

    n_docs: int = 0
    avgdl: float = 1.0
    df: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, docs: Sequence[Mapping[str, float]]) -> CorpusStats:
        df: Counter[int] = Counter()
        for tf in docs:
            df.update({term_id(t) for t in tf})
        total = sum(sum(tf.values()) for tf in docs)
        return cls(n_docs=len(docs), avgdl=total / len(docs) if docs else 1.0, df=dict(df))

    def max_score(self, query: SparseVector) -> float:
        """The score a perfect chunk would reach for `query`: every term present, saturated.

        Terms no chunk contains count too, at the rarest-term IDF: an alert whose words the
        knowledge base never uses is one it does not cover, however well a chunk matches the
        few common words it shares with it.
        """
        total = 0.0
        for i, w in zip(query.indices, query.values, strict=True):
            total += idf(self.n_docs, self.df.get(i, 0)) * w * (K1 + 1)
        return total

    def to_payload(self) -> dict[str, object]:
        return {"n_docs": self.n_docs, "avgdl": self.avgdl,
                "df": {str(k): v for k, v in self.df.items()}}

    @classmethod
    def from_payload(cls, data: Mapping[str, object]) -> CorpusStats:
        raw_df = data.get("df")
        df = {int(k): int(v) for k, v in raw_df.items()} if isinstance(raw_df, dict) else {}
        n_docs = data.get("n_docs", 0)
        avgdl = data.get("avgdl", 1.0)
        return cls(n_docs=int(n_docs) if isinstance(n_docs, int | float) else 0,
                   avgdl=float(avgdl) if isinstance(avgdl, int | float) else 1.0, df=df)


class Bm25Scorer:
    """In-process BM25 over a handful of documents: the fallback when Qdrant is unreachable."""

    def __init__(self, docs: Sequence[Mapping[str, float]]) -> None:
        self.stats = CorpusStats.of(docs)
        self._vectors = [doc_vector(tf, avgdl=self.stats.avgdl).as_dict() for tf in docs]

    def scores(self, query: SparseVector) -> list[float]:
        """One raw score per document, in input order (Qdrant's arithmetic)."""
        weights = [(i, w * idf(self.stats.n_docs, self.stats.df[i]))
                   for i, w in zip(query.indices, query.values, strict=True) if i in self.stats.df]
        return [sum(w * vec.get(i, 0.0) for i, w in weights) for vec in self._vectors]
