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


@pytest.fixture
def event_payload():  # type: ignore[no-untyped-def]
    return load_event


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A loopback broker stand-in that records what is posted to it."""
    with running_sink() as s:
        yield s
