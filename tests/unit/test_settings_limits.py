"""Every stage takes its frozen limits from its function's settings the same way: by name
(`limits_from`), so a limit is wired by naming it alike in both, and a missing name fails at once."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from orchestrator.console.trust import Thresholds
from orchestrator.decide.gemini import Limits as PlannerLimits
from orchestrator.orient.gather import Limits as ReadLimits
from orchestrator.orient.metrics import MetricLimits
from orchestrator.settings.agent import AgentSettings
from orchestrator.settings.common import limits_from
from orchestrator.settings.console import ConsoleSettings
from orchestrator.settings.router import RouterSettings


def test_each_stage_s_limits_come_from_its_settings_by_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_MAX_PODS", "7")
    monkeypatch.setenv("ROUTER_METRICS_MAX_SERIES", "9")
    monkeypatch.setenv("AGENT_RETRY_AFTER_MAX_SECONDS", "3.5")
    monkeypatch.setenv("AGENT_TIMEOUT_SECONDS", "12")
    monkeypatch.setenv("CONSOLE_TRUST_MIN_INCIDENTS", "4")
    router = RouterSettings()
    assert limits_from(ReadLimits, router) == ReadLimits(max_pods=7)
    assert limits_from(MetricLimits, router, prefix="metrics_") == MetricLimits(max_series=9)
    assert limits_from(PlannerLimits, AgentSettings()) == PlannerLimits(
        retry_after_max_seconds=3.5, timeout_seconds=12.0)
    assert limits_from(Thresholds, ConsoleSettings(), prefix="trust_") == Thresholds(
        min_incidents=4)


def test_a_limit_the_settings_do_not_have_fails_at_once() -> None:
    @dataclass(frozen=True)
    class Odd:
        max_pods: int = 1
        max_unicorns: int = 2

    with pytest.raises(AttributeError, match="max_unicorns"):
        limits_from(Odd, RouterSettings())
