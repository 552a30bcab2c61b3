"""The claim holder's deadline is derived from the planner's own retry schedule: the figure
`Limits.longest_call_seconds` gives must bound what `GeminiPlanner` really waits."""

from __future__ import annotations

import random

import pytest

from orchestrator.adapters.llm import Generation
from orchestrator.decide.gemini import GeminiPlanner, Limits
from orchestrator.errors import TransientError


class _AlwaysBusy:
    """A model endpoint that answers every call with a retryable error (429/5xx)."""

    calls = 0

    def generate(self, **_: object) -> Generation:
        self.calls += 1
        raise TransientError("HTTP 429 RESOURCE_EXHAUSTED")


@pytest.mark.parametrize("retries", [0, 1, 2, 4])
def test_longest_call_bounds_the_planners_real_backoff(retries: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.999999)  # the longest jitter
    limits = Limits(retries=retries, backoff_seconds=1.5)
    waits: list[float] = []
    llm = _AlwaysBusy()
    planner = GeminiPlanner(llm, limits=limits, sleep=waits.append)  # type: ignore[arg-type]
    with pytest.raises(TransientError):
        planner._generate("system", "prompt")
    assert llm.calls == retries + 1
    timeout = 30.0
    bound = limits.longest_call_seconds(timeout)
    assert sum(waits) + llm.calls * timeout <= bound
    assert bound - (sum(waits) + llm.calls * timeout) < 0.01  # tight, not a loose guess
