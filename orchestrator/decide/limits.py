"""What bounds the LLM planner: its call limits and its cost guards, as plain data.

Kept apart from the planner (`gemini.py`) and the guarded path (`guarded.py`) because the agent
builds both on its first event whether or not a model is configured, and without a key it must
not import the LLM machinery at all (cold start is a product feature).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.decide.claim import Claims
    from orchestrator.decide.token_budget import Ledger


@dataclass(frozen=True)
class Limits:
    retries: int = 2
    backoff_seconds: float = 1.0
    temperature: float = 0.1
    max_output_tokens: int = 8192
    token_budget: int = 50_000
    max_actions: int = 1
    prompt_runbooks: int = 3
    retry_after_max_seconds: float = 10.0
    """Longest `Retry-After` honoured, in seconds; a longer one ends the retries."""
    timeout_seconds: float = 30.0
    """One request's timeout (the adapter's): with the waits, it bounds the retries' total."""

    def longest_call_seconds(self, timeout: float) -> float:
        """The longest one model call can take in `GeminiPlanner._generate`: every attempt
        timing out after `timeout`, every wait at its longest (retry i waits `backoff * 2**i`
        plus a jitter of up to `backoff`, or the longest `Retry-After` honoured, whichever is
        longer). `_generate` also stops retrying once this much time has passed."""
        backoff = sum(max(self.backoff_seconds * (2.0**i + 1.0), self.retry_after_max_seconds)
                      for i in range(self.retries))
        return (self.retries + 1) * timeout + backoff


@dataclass(frozen=True)
class Guards:
    """The agent's cost guards; `claims` and `ledger` are None without an audit store."""

    incident_limit: int
    hour_limit: int = 0
    claims: Claims | None = None
    ledger: Ledger | None = None
