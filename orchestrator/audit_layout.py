"""Object keys the console writes in the audit store and the agent reads back.

The console owns the audit log; the agent reads one part of it (a copy of every proposed plan,
per alert fingerprint, to reuse recent plans and count an incident's tokens). Both sides build
and parse those keys here, so the layout cannot drift between writer and reader:

    fingerprints/<fingerprint>/<plan.created_at as YYYYmmddTHHMMSSffffffZ>-<event id>.json

The timestamp in the name lets the agent pick the recent copies from a listing alone.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

FINGERPRINTS = "fingerprints"
STAMP = "%Y%m%dT%H%M%S%f"
PLAN_COPY = re.compile(r"^(\d{8}T\d{12})Z-([A-Za-z0-9_.-]+)\.json$")
"""The file name of a plan copy: its creation time, then the event id."""
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def safe_name(value: str | None) -> bool:
    """Can `value` be one segment of an object key (no `/`, no dot-names, bounded)?"""
    return bool(value) and bool(_SAFE.match(value or "")) and value not in (".", "..")


def stamp(when: datetime) -> str:
    """`when` in UTC as it sorts in a key: `YYYYmmddTHHMMSSffffffZ`."""
    return when.astimezone(UTC).strftime(STAMP) + "Z"


def file_id(event_id: str) -> str:
    """An event id as a key segment: itself, or its hash when it cannot be one (ours are hex)."""
    return event_id if safe_name(event_id) else hashlib.sha256(event_id.encode()).hexdigest()[:32]


def plan_copy_key(fingerprint: str, created_at: datetime, event_id: str) -> str:
    """Where the console keeps the copy of a `plan.proposed` record for its alert fingerprint
    (the caller checked `safe_name(fingerprint)`)."""
    return f"{FINGERPRINTS}/{fingerprint}/{stamp(created_at)}-{file_id(event_id)}.json"


def parse_stamp(text: str) -> datetime:
    """The time `stamp` wrote (without its `Z`)."""
    return datetime.strptime(text, STAMP).replace(tzinfo=UTC)


def plan_copy_time(key: str) -> datetime | None:
    """The plan's creation time from a plan copy's key; None for any other key."""
    m = PLAN_COPY.match(key.rsplit("/", 1)[-1])
    return parse_stamp(m.group(1)) if m else None
