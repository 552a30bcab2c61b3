"""Shared test fixtures: recorded payloads and small real-wire helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> Any:
    """A recorded payload from tests/events/ (name with or without `.json`)."""
    path = EVENTS / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())


@pytest.fixture
def event_payload():  # type: ignore[no-untyped-def]
    return load_event
