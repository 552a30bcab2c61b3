"""CloudEvents at a function's edge: the decoded event, validating its `data`, the reply to encode.

The wire itself (binary and structured mode, header encoding) is `orchestrator.cloudevent_http`'s.
Replies are always binary mode, the mode both Knative brokers send in. Extension names follow the
CloudEvents rule (lowercase alphanumerics, at most 20 characters).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from orchestrator.errors import PermanentError
from orchestrator.models import Frozen

M = TypeVar("M", bound=Frozen)

SOURCE_PREFIX = "/orchestrator/"


@dataclass(frozen=True)
class Event:
    """A decoded CloudEvent: its attributes and its still-unvalidated data."""

    type: str
    id: str
    source: str
    data: Any
    subject: str | None = None
    time: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = field(default=None, repr=False)
    """The data bytes exactly as received in binary mode (what a signature covers); None in
    structured mode."""

    @property
    def incident_key(self) -> str | None:
        return self.extensions.get("incidentkey")

    def parse(self, model: builtins.type[M]) -> M:
        """Validate `data` against the type's model; bad data is a PermanentError (4xx)."""
        if not isinstance(self.data, dict):
            raise PermanentError(
                f"event {self.type!r} needs a JSON object as data, got {type(self.data).__name__}"
            )
        try:
            return model.model_validate(self.data)
        except ValidationError as e:
            from orchestrator.validation import problem

            what = problem(e, "data", within=True)
            raise PermanentError(f"invalid data for {self.type!r}: {what}") from e


_CORE = {"specversion", "type", "source", "id", "subject", "time", "datacontenttype", "dataschema"}


def decode(headers: dict[str, str], body: bytes) -> Event:
    """The CloudEvent a function was delivered (binary or structured mode, read strictly by
    `cloudevent_http`), its data parsed as JSON; `headers` lowercased where the request entered."""
    from orchestrator.cloudevent_http import read
    from orchestrator.limits import check_depth

    check_depth(body)
    message = read(headers, body)
    try:
        data = json.loads(message.data) if message.data else None
    except ValueError as e:
        raise PermanentError(f"CloudEvent data is not JSON: {e}") from e
    attrs = message.attributes
    return Event(
        type=attrs["type"],
        id=attrs["id"],
        source=attrs["source"],
        data=data,
        subject=attrs.get("subject"),
        time=attrs.get("time"),
        extensions={k: v for k, v in attrs.items() if k not in _CORE},
        raw=body if message.binary else None,
    )


@dataclass(frozen=True)
class Outgoing:
    """An event to emit: attributes decided by the stage, data already a validated model."""

    type: str
    id: str
    function: str
    incident_key: str
    data: Frozen
    partition_key: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    seal: Callable[[Mapping[str, str], bytes], Mapping[str, str]] | None = field(
        default=None, compare=False, repr=False)
    """Signs the encoded event (`provenance.Signer.seal`): extension attributes to add."""

    def attributes(self) -> dict[str, str]:
        attrs = {
            "specversion": "1.0",
            "type": self.type,
            "id": self.id,
            "source": SOURCE_PREFIX + self.function,
            "subject": self.incident_key,
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "incidentkey": self.incident_key,
        }
        if self.partition_key:
            attrs["partitionkey"] = self.partition_key
        attrs.update(self.extra)
        return attrs


def to_binary(out: Outgoing) -> tuple[dict[str, str], bytes]:
    """Binary-mode HTTP headers and body for an outgoing event (no SDK needed for this)."""
    from orchestrator.cloudevent_http import binary_headers
    from orchestrator.telemetry import trace_extensions

    attrs = out.attributes()
    for name, value in trace_extensions(out).items():
        attrs.setdefault(name, value)  # outside the signed attributes: see orchestrator.telemetry
    body = out.data.model_dump_json(exclude_none=False).encode()
    if out.seal is not None:
        attrs.update(out.seal(attrs, body))
    return binary_headers(attrs), body
