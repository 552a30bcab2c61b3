"""The two failures a handler can report, and how each maps onto HTTP.

Knative brokers retry 5xx (and 404/408/409/429) and never retry other 4xx, so the split below is
the whole retry contract: bad input must not be retried, a dependency that is down must be.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of every error this package raises on purpose; `status` is its HTTP answer, one of
    the class's `statuses` (a 4xx for bad input, a 5xx for a dependency that failed)."""

    status = 500
    statuses = range(500, 600)

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            if status not in self.statuses:
                raise ValueError(f"{type(self).__name__} needs a {self.statuses.start // 100}xx "
                                 f"status, not {status}")
            self.status = status


class PermanentError(OrchestratorError):
    """The input is wrong; retrying the same input cannot help (HTTP 4xx, no retry)."""

    status = 400
    statuses = range(400, 500)


class TransientError(OrchestratorError):
    """A dependency is down or slow; the broker should retry (HTTP 5xx), then dead-letter."""

    status = 503


class AuthError(PermanentError):
    """Missing or wrong credentials (HTTP 401)."""

    def __init__(self, message: str = "missing or invalid bearer token") -> None:
        super().__init__(message, status=401)


def retryable(status: int) -> bool:
    """Whether a dependency's HTTP answer (0: none at all) is worth asking again later: a 408,
    a 429 or a 5xx. The LLM and embeddings adapters all decide by this."""
    return status in (0, 408, 429) or status >= 500
