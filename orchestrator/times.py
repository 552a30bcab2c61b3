"""The one reader of RFC 3339 times and the one of ISO 8601 durations.

Times arrive from Alertmanager (Go prints nanoseconds and `Z`), from the Kubernetes API, from
CloudEvents' `time` attribute and from the audit log; durations from the eventing YAML
(`backoffDelay: PT0.5S`, `timeout: PT30S`). Each was parsed in its own way before; the pydantic
input models validate through these same functions (`orchestrator.ingest.inputs`), so a value
means the same wherever it is read. Standard library only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Alertmanager's "no end time": Go's zero time.
ZERO_TIME = "0001-01-01T00:00:00Z"

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:\d{2})?$")
_DURATION = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def rfc3339(value: object, *, naive_as_utc: bool = False) -> datetime:
    """An RFC 3339 time (any fraction length, cut to microseconds; `Z` or an offset), timezone-
    aware. Without a zone it is refused, unless `naive_as_utc` (what this project itself wrote
    before it always said `Z`). ValueError, saying why, for anything else."""
    if not isinstance(value, str):
        raise ValueError(f"an RFC 3339 time must be a string, not {type(value).__name__}")
    text = value.strip()
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"{value[:40]!r} is not an RFC 3339 time")
    if match["zone"] is None and not naive_as_utc:
        raise ValueError(f"{value[:40]!r} has no time zone")
    fraction = match["fraction"] or ""
    if len(fraction) > 7:  # Go prints nanoseconds; Python keeps microseconds
        text = text.replace(fraction, fraction[:7], 1)
    parsed = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rfc3339_or_none(value: object, *, naive_as_utc: bool = False) -> datetime | None:
    """`rfc3339`, with None for anything it refuses (for fields that are informative only)."""
    try:
        return rfc3339(value, naive_as_utc=naive_as_utc)
    except ValueError:
        return None


def iso_duration(text: object) -> float:
    """Seconds in an ISO 8601 duration such as `PT0.5S`, `PT30S`, `PT2M`, `P1DT2H`.

    Years and months are refused: their length is ambiguous and no setting needs them.
    ValueError otherwise.
    """
    upper = text.strip().upper() if isinstance(text, str) else ""
    match = _DURATION.match(upper)
    if not match or upper in ("P", "PT") or upper.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO-8601 duration like PT0.5S, PT30S or PT2M "
                         "(years and months are not supported)")
    return sum(float(v) * _SECONDS[k] for k, v in match.groupdict().items() if v)
