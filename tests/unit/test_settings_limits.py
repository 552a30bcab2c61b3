"""Every stage takes its limits from its function's settings the same way: the settings class
mixes in the stage's limits block (declared beside its core: `orient/limits.py`,
`decide/limits.py`, `console/thresholds.py`), so each limit is declared once, read from
`<PREFIX>` + its name, and a bad value fails when the settings are read."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from orchestrator.console.thresholds import TrustThresholds
from orchestrator.decide.limits import PlannerLimits
from orchestrator.orient.limits import MetricLimits, ReadLimits
from orchestrator.settings.agent import AgentSettings
from orchestrator.settings.console import ConsoleSettings
from orchestrator.settings.router import RouterSettings

BLOCKS = [(RouterSettings, ReadLimits), (RouterSettings, MetricLimits),
          (AgentSettings, PlannerLimits), (ConsoleSettings, TrustThresholds)]


def block_of(cls: type[BaseModel], settings: BaseModel) -> BaseModel:
    """The limits a stage is handed, as a bare block: the settings' values of its fields."""
    return cls(**{name: getattr(settings, name) for name in cls.model_fields})


def test_each_stage_s_limits_come_from_its_settings_by_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_MAX_PODS", "7")
    monkeypatch.setenv("ROUTER_METRICS_MAX_SERIES", "9")
    monkeypatch.setenv("AGENT_RETRY_AFTER_MAX_SECONDS", "3.5")
    monkeypatch.setenv("AGENT_TIMEOUT_SECONDS", "12")
    monkeypatch.setenv("CONSOLE_TRUST_MIN_INCIDENTS", "4")
    router, agent, console = (RouterSettings.from_env(), AgentSettings.from_env(),
                              ConsoleSettings.from_env())
    # The cores take the block type; the settings are one, so they are handed as they are.
    assert isinstance(router, ReadLimits) and isinstance(router, MetricLimits)
    assert isinstance(agent, PlannerLimits) and isinstance(console, TrustThresholds)
    assert block_of(ReadLimits, router) == ReadLimits(max_pods=7)
    assert block_of(MetricLimits, router) == MetricLimits(metrics_max_series=9)
    assert block_of(PlannerLimits, agent) == PlannerLimits(
        retry_after_max_seconds=3.5, timeout_seconds=12.0)
    assert block_of(TrustThresholds, console) == TrustThresholds(trust_min_incidents=4)


@pytest.mark.parametrize(("settings", "block"), BLOCKS,
                         ids=lambda c: c.__name__)
def test_a_limit_the_settings_do_not_have_fails_at_once(
        settings: type[BaseModel], block: type[BaseModel]) -> None:
    """No limit is declared twice, so none can be missing from its settings or differ there:
    each of the block's fields is the settings' field, default and bounds included."""
    assert issubclass(settings, block)
    for name, field in block.model_fields.items():
        assert name in settings.model_fields, f"{settings.__name__} lacks {name}"
        mine = settings.model_fields[name]
        assert (mine.default, mine.metadata) == (field.default, field.metadata), name


@pytest.mark.parametrize(("variable", "value", "read"), [
    ("ROUTER_MAX_PODS", "0", RouterSettings), ("ROUTER_METRICS_MAX_SERIES", "99", RouterSettings),
    ("ROUTER_LOG_TAIL_LINES", "0", RouterSettings),
    ("AGENT_RETRIES", "9", AgentSettings), ("CONSOLE_TRUST_MIN_AGREEMENT", "2", ConsoleSettings)])
def test_a_limit_out_of_bounds_fails_when_the_settings_are_read(
        variable: str, value: str, read: type[RouterSettings | AgentSettings | ConsoleSettings],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=f"(?i){variable.split('_', 1)[1]}"):
        read.from_env()
