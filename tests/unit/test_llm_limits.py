"""The claim holder's deadline is derived from the planner's own retry schedule: the figure
`PlannerLimits.longest_call_seconds` gives must bound what `GeminiPlanner` really waits."""

from __future__ import annotations

import random
import time

import pytest

from orchestrator.adapters.llm import Generation, Throttled
from orchestrator.decide.gemini import GeminiPlanner
from orchestrator.decide.limits import PlannerLimits
from orchestrator.errors import TransientError


class _AlwaysBusy:
    """A model endpoint that answers every call with a retryable error (429/5xx), saying
    `Retry-After` when `retry_after` is set."""

    name = "busy model"
    model = "busy-model-1"
    calls = 0

    def __init__(self, retry_after: float | None = None) -> None:
        self.retry_after = retry_after

    def generate(self, **_: object) -> Generation:
        self.calls += 1
        if self.retry_after is not None:
            raise Throttled("HTTP 429 rate_limit_exceeded", retry_after=self.retry_after)
        raise TransientError("HTTP 429 RESOURCE_EXHAUSTED")


def _waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the retry schedule asks for, recorded instead of slept (the retry library
    sleeps through `time.sleep`)."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    return waits


@pytest.mark.parametrize("retries", [0, 1, 2, 4])
@pytest.mark.parametrize("throttled", [False, True], ids=["backoff", "retry-after"])
def test_longest_call_bounds_the_planners_real_backoff(retries: int, throttled: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Either wait at its longest: the jittered backoff with no `Retry-After` (the longest
    honoured then 0), or the longest `Retry-After` honoured (above every backoff here)."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # the longest jitter
    limits = PlannerLimits(retries=retries, backoff_seconds=1.5,
                           retry_after_max_seconds=40.0 if throttled else 0.0, timeout_seconds=30.0)
    waits = _waits(monkeypatch)
    llm = _AlwaysBusy(retry_after=40.0 if throttled else None)
    planner = GeminiPlanner(llm, limits=limits)  # type: ignore[arg-type]
    with pytest.raises(TransientError):
        planner._generate("system", "prompt")
    assert llm.calls == retries + 1
    timeout = 30.0
    bound = limits.longest_call_seconds(timeout)
    assert sum(waits) + llm.calls * timeout <= bound
    assert bound - (sum(waits) + llm.calls * timeout) < 0.01  # tight, not a loose guess


def test_a_retry_after_beyond_the_longest_honoured_ends_the_retries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    limits = PlannerLimits(retries=3, backoff_seconds=0.01, retry_after_max_seconds=5.0)
    waits = _waits(monkeypatch)
    llm = _AlwaysBusy(retry_after=6.0)
    planner = GeminiPlanner(llm, limits=limits)  # type: ignore[arg-type]
    with pytest.raises(Throttled):
        planner._generate("system", "prompt")
    assert llm.calls == 1 and waits == []


def test_a_retry_after_is_never_cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = PlannerLimits(retries=2, backoff_seconds=0.01, retry_after_max_seconds=5.0)
    waits = _waits(monkeypatch)
    llm = _AlwaysBusy(retry_after=4.5)
    planner = GeminiPlanner(llm, limits=limits)  # type: ignore[arg-type]
    with pytest.raises(Throttled):
        planner._generate("system", "prompt")
    assert llm.calls == 3 and waits == [4.5, 4.5]
