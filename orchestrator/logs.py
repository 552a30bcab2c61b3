"""JSON logs, one object per line, each carrying the CloudEvent id and incident key in scope.

Handlers set the correlation with `correlate()`; every line logged while handling that event
carries it without being passed around. Secrets are never logged; long values are truncated.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

_event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)
_incident: contextvars.ContextVar[str | None] = contextvars.ContextVar("incident", default=None)
_MAX_MESSAGE = 2000


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if len(message) > _MAX_MESSAGE:
            message = message[:_MAX_MESSAGE] + "…[truncated]"
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        if (eid := _event_id.get()) is not None:
            line["event_id"] = eid
        if (key := _incident.get()) is not None:
            line["incident_key"] = key
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)[-_MAX_MESSAGE:]
        return json.dumps(line, ensure_ascii=False)


def setup(level: str = "INFO") -> None:
    """Route the root logger to stderr as JSON (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)


@contextlib.contextmanager
def correlate(event_id: str | None, incident_key: str | None) -> Iterator[None]:
    """Tag every log line inside the block with this event id and incident key."""
    t1 = _event_id.set(event_id)
    t2 = _incident.set(incident_key)
    try:
        yield
    finally:
        _event_id.reset(t1)
        _incident.reset(t2)
