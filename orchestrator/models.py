"""The base every event payload model stands on: frozen, closed to unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable and strict: an event is a fact, and an unknown field is a contract break."""

    # defer_build: a validator is built on first use, so a function pays only for the models it
    # touches (ingest never builds the plan or context models): cold start is a feature.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
