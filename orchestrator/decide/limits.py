"""What bounds the LLM planner: its call limits and its cost guards.

Kept apart from the planner (`gemini.py`) and the guarded path (`guarded.py`) because the agent
builds both on its first event whether or not a model is configured, and without a key it must
not import the LLM machinery at all (cold start is a product feature).

`PlannerLimits` is a block, like `orchestrator.settings.blocks`: the agent's settings mix it in,
so each limit is declared once and read from `AGENT_` + its name (`AGENT_RETRIES`); the planner
takes the block type and is handed the settings themselves. Frozen, and its validator is built
on first use (`defer_build`, which the settings class inherits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from orchestrator.decide.claim import Claims
    from orchestrator.decide.token_budget import Ledger


class PlannerLimits(BaseModel):
    """What bounds the LLM planner: its call limits, its retries and its per-incident budget."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    timeout_seconds: float = Field(default=30.0, gt=0)
    """Per-request timeout towards the LLM (either provider), in seconds: the adapter's, and with
    the waits it bounds the retries' total. Attempts x timeout must fit well inside the
    function's request timeout (Knative's default is 300 s)."""

    retries: int = Field(default=2, ge=0, le=5)
    """Retries after a 429, a 5xx or a timeout, before falling back to the offline planner."""

    retry_after_max_seconds: float = Field(default=10.0, ge=0)
    """Longest wait a 429's or 503's `Retry-After` may impose before the next attempt, in
    seconds. The planner never retries sooner than the server asked; when it asks for longer
    than this, the offline planner plans at once rather than hold the delivery past its
    timeout (the claim holder's deadline counts this wait too)."""

    backoff_seconds: float = Field(default=1.0, ge=0)
    """First retry delay in seconds; it doubles per retry (with jitter), so 2 retries wait ~3 s."""

    temperature: float = Field(default=0.1, ge=0, le=2)
    """Sampling temperature: low, because a plan should not change between identical inputs."""

    max_output_tokens: int = Field(default=8192, gt=0)
    """Upper bound on one answer's tokens (thinking included); also what the budget reserves."""

    token_budget: int = Field(default=50_000, gt=0)
    """Tokens (in + out) one incident may spend on the LLM, its earlier plans included. A prompt
    is ~3-8 k tokens, so the default allows the first call and the one corrective retry."""

    max_actions: int = Field(default=1, ge=1, le=5)
    """Most actions one plan may carry. One by default: verification can then tell what worked."""

    prompt_runbooks: int = Field(default=3, ge=1, le=10)
    """Distinct runbooks shown to the model (the best-ranked ones), to keep the prompt small."""

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
