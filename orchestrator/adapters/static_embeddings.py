"""Offline semantic embeddings: a static token table shipped inside the package.

Teams rename alerts ("KubeHpaMaxedOut" is "HpaReplicasAtLimit" elsewhere) and write their own
summaries; BM25 only sees shared words. A static table gives each WordPiece token a vector, so
"autoscaler at its ceiling" lands near "HPA maxed out" with no network, no API key and no
PyTorch: a text's vector is the sum of its tokens' rows, which numpy does in microseconds.

The table (`data/minilm_l6_static.npz`) was distilled from all-MiniLM-L6-v2 (Apache-2.0) by
`scripts/distill_static_embeddings.py`, Model2Vec's method: each token run alone through the
transformer, PCA, Zipf weighting. It is loaded on the first `embed`, never at import, so an
agent that never needs it (an exact alertname match) never pays for it.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from orchestrator.errors import PermanentError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Task = Literal["query", "document"]

TABLE = Path(__file__).parent / "data" / "minilm_l6_static.npz"
MODEL = "minilm-l6-static"

_RUN = re.compile(r"[A-Za-z0-9]+")
# camelCase and acronym boundaries: "HPAMaxedOut" → HPA Maxed Out, "OOMKilled" → OOM Killed.
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# BERT's WordPiece gives up on longer words; so do we (they are hashes and object names).
_MAX_WORD = 100


class SemanticModel(Protocol):
    """What the semantic retriever needs: a model name and cosine similarities."""

    model: str

    def similarities(self, query: str, documents: Sequence[str]) -> list[float]:
        """Cosine of `query` with each document, in order."""


def words(text: str) -> list[str]:
    """Lower-cased words, identifiers split at camelCase, snake_case and punctuation."""
    return [w.lower() for run in _RUN.findall(text) for w in _CAMEL.findall(run)]


class StaticEmbedder:
    """The `Embedder` port over the packaged table (see the module docstring)."""

    def __init__(self, table: Path = TABLE, *, model: str = MODEL) -> None:
        self.table = table
        self.model = model
        self._lock = threading.Lock()
        self._vocab: dict[str, int] | None = None
        self._vectors: npt.NDArray[np.float32] | None = None
        self._dims = 0
        self._docs: tuple[tuple[str, ...], npt.NDArray[np.float32],
                         npt.NDArray[np.float32]] | None = None

    @property
    def loaded(self) -> bool:
        """Whether the table has been read (it is, on the first `embed` or `similarities`)."""
        return self._vectors is not None

    @property
    def dimensions(self) -> int:
        self._load()
        return self._dims

    def _load(self) -> tuple[dict[str, int], npt.NDArray[np.float32]]:
        with self._lock:
            if self._vocab is None or self._vectors is None:
                import numpy as np

                try:
                    with np.load(self.table, allow_pickle=False) as data:
                        pieces = str(data["tokens"]).split("\n")
                        vectors = data["vectors"].astype(np.float32) * data["scales"][:, None]
                except (OSError, KeyError, ValueError) as e:
                    raise PermanentError(f"static embedding table {self.table.name} is "
                                         f"unreadable: {e}") from e
                if len(pieces) != len(vectors):
                    raise PermanentError(f"static embedding table {self.table.name}: "
                                         f"{len(pieces)} word pieces for {len(vectors)} rows")
                self._vocab = {t: i for i, t in enumerate(pieces)}
                self._vectors = vectors
                self._dims = int(vectors.shape[1])
            return self._vocab, self._vectors

    @functools.lru_cache(maxsize=65536)  # noqa: B019 - one embedder per process, kept for life
    def pieces(self, word: str) -> tuple[int, ...]:
        """WordPiece: greedy longest match, `##` for continuations; () when a piece is unknown."""
        vocab, _ = self._load()
        if len(word) > _MAX_WORD:
            return ()
        out: list[int] = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in vocab:
                    out.append(vocab[piece])
                    start = end
                    break
            else:
                return ()
        return tuple(out)

    def similarities(self, query: str, documents: Sequence[str]) -> list[float]:
        """Cosine of the query with each document (0 for a text with no known word).

        The documents' vectors are kept until the documents change: a retriever asks with the
        same chunks every time, so only the query is embedded per call.
        """
        import numpy as np

        docs = tuple(documents)
        with self._lock:
            cached = self._docs
        if cached is None or cached[0] != docs:
            cached = (docs, *_centred(self.matrix(docs)))
            with self._lock:
                self._docs = cached
        _, matrix, mean = cached
        q = self.matrix([query])[0] - mean
        norm = float(np.linalg.norm(q))
        return [float(x) for x in matrix @ (q / norm if norm > 0 else q)]

    def embed(self, texts: Sequence[str], *, task: Task) -> list[list[float]]:
        """Unit vectors (all zeros for a text with no known word); `task` makes no difference."""
        return [[float(x) for x in row] for row in self.matrix(texts)]

    def matrix(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """`embed` as one (len(texts), dimensions) array, for callers that stay in numpy."""
        import numpy as np

        _, vectors = self._load()
        out = np.zeros((len(texts), self._dims), dtype=np.float32)
        for i, text in enumerate(texts):
            ids = [p for w in words(text) for p in self.pieces(w)]
            if ids:
                v = vectors[ids].sum(axis=0)
                norm = float(np.linalg.norm(v))
                if norm > 0:
                    out[i] = v / norm
        return out


def _centred(matrix: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32],
                                                        npt.NDArray[np.float32]]:
    """Rows minus their mean, re-normalised; and the mean."""
    import numpy as np

    mean = matrix.mean(axis=0) if len(matrix) else np.zeros(matrix.shape[1], np.float32)
    out = matrix - mean
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms, mean
