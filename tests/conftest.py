"""Shared test fixtures: recorded payloads and small real-wire helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.sink import Sink, running_sink

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> Any:
    """A recorded payload from tests/events/ (name with or without `.json`)."""
    path = EVENTS / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())


@pytest.fixture(autouse=True)
def _function_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every function under test holds its key and the others' public keys (tests/keys.py),
    as the chart and `orchestrator up` give them; tests that clear a prefix re-add them."""
    from tests import keys

    for function in ("ingest", "router", "agent", "executor", "console"):
        for name, value in keys.env(function).items():
            monkeypatch.setenv(name, value)


@pytest.fixture
def event_payload():  # type: ignore[no-untyped-def]
    return load_event


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A loopback broker stand-in that records what is posted to it."""
    with running_sink() as s:
        yield s
