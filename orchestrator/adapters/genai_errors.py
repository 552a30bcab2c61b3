"""google-genai's failures as ours: the one translator the LLM and the embeddings adapters share.

Both talk to the same API through the same SDK, so they agree on what retrying can fix: a 408,
a 429, a 5xx, an answer with no status, a timeout or a refused connection is a `TransientError`
(the broker redelivers, the planner may fall back); any other 4xx (a bad key, an unknown model,
a rejected schema) is a `PermanentError` carrying that status. The SDK's exception classes are
imported inside the translator, never at module import: the agent's cold start does not pay
for them (and the offline planner never loads the SDK at all).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from orchestrator.errors import PermanentError, TransientError, retryable


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run one SDK call; its API errors and its transport's become ours (`raise … from e`).
    The SDK is loaded already when a call is made: importing its errors here costs nothing."""
    from google.genai.errors import APIError

    try:
        yield
    except APIError as e:
        code = int(e.code or 0)
        detail = f"{what}: HTTP {code} {e.status or ''} {(e.message or '')[:300]}".strip()
        if retryable(code):
            raise TransientError(detail, status=503) from e
        raise PermanentError(detail, status=code if 400 <= code < 500 else 400) from e
    except transport_errors() as e:
        raise TransientError(f"{what}: {type(e).__name__}: {str(e)[:300]}") from e


def transport_errors() -> tuple[type[BaseException], ...]:
    """What the SDK's HTTP transport raises when the service cannot be reached or is too slow:
    httpx's errors, and those of its fork httpx2, which google-genai uses when installed."""
    found: list[type[BaseException]] = [OSError, TimeoutError]
    for name in ("httpx", "httpx2"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        found.append(module.HTTPError)
    return tuple(found)
