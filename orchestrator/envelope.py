"""CloudEvents at the edge: decode once (binary or structured), validate `data`, encode replies.

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
            raise PermanentError(f"invalid data for {self.type!r}: {_brief(e)}") from e


_CORE = {"specversion", "type", "source", "id", "subject", "time", "datacontenttype", "dataschema"}


def decode(headers: dict[str, str], body: bytes) -> Event:
    """Decode an HTTP request carrying a CloudEvent in binary or structured mode."""
    from cloudevents.exceptions import GenericException
    from cloudevents.http import from_http

    from orchestrator.limits import check_depth

    check_depth(body)
    try:
        ce = from_http(headers, body)
    except GenericException as e:
        raise PermanentError(f"not a CloudEvent: {e}") from e
    except (ValueError, TypeError) as e:
        raise PermanentError(f"not a CloudEvent: {e}") from e
    attrs = ce.get_attributes()
    data = ce.data
    if isinstance(data, bytes | bytearray):
        try:
            data = json.loads(data) if data else None
        except ValueError as e:
            raise PermanentError(f"CloudEvent data is not JSON: {e}") from e
    ext = {k: str(v) for k, v in attrs.items() if k not in _CORE}
    return Event(
        type=str(attrs["type"]),
        id=str(attrs["id"]),
        source=str(attrs["source"]),
        data=data,
        subject=attrs.get("subject"),
        time=attrs.get("time"),
        extensions=ext,
        raw=body if any(k.lower() == "ce-specversion" for k in headers) else None,
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
    headers = {"content-type": "application/json"}
    from orchestrator.telemetry import trace_extensions

    attrs = out.attributes()
    for name, value in trace_extensions(out).items():
        attrs.setdefault(name, value)  # outside the signed attributes: see orchestrator.telemetry
    body = out.data.model_dump_json(exclude_none=False).encode()
    if out.seal is not None:
        attrs.update(out.seal(attrs, body))
    for name, value in attrs.items():
        if name == "datacontenttype":
            continue
        headers[f"ce-{name}"] = _header_value(value)
    return headers, body


def _header_value(value: str) -> str:
    """Percent-encode what the CloudEvents HTTP binding says a header value may not carry raw:
    space, `"`, `%`, and anything outside printable ASCII (so no text can split a header)."""
    if all(0x21 <= ord(c) <= 0x7E and c not in '"%' for c in value):
        return value
    return "".join(
        c if 0x21 <= ord(c) <= 0x7E and c not in '"%'
        else "".join(f"%{b:02X}" for b in c.encode()) for c in value
    )


def _brief(e: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in e.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = len(e.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
