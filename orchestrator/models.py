"""The base every event payload model stands on: frozen, closed to unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable and strict: an event is a fact, and an unknown field is a contract break."""

    model_config = ConfigDict(frozen=True, extra="forbid")
