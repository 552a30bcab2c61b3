"""Kubernetes Events of the alerted object and its owners: newest first, duplicates folded.

The kubelet and controllers repeat themselves (`BackOff` forty times); the responder needs each
distinct event once, with how often and how recently it happened.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.context import KubeEvent
from orchestrator.orient.fields import Json, Scrubber, integer, meta, when


def field_selector(kind: str, name: str) -> str:
    """The Events of one object (by kind and name, so a recreated pod's history counts too)."""
    return f"involvedObject.kind={kind},involvedObject.name={name}"


def fold(raw: list[Json], scrub: Scrubber, *, keep: int) -> tuple[list[KubeEvent], int]:
    """Distinct events newest first (at most `keep`), and how many distinct ones were dropped."""
    folded: dict[tuple[str, str, str, str], KubeEvent] = {}
    for ev in raw:
        involved = ev.get("involvedObject") or {}
        obj = f"{involved.get('kind')}/{involved.get('name')}"
        reason = str(ev.get("reason") or "")
        message = scrub.text(ev.get("message"), f"events of {obj}") or ""
        key = (obj, str(ev.get("type") or ""), reason, message)
        count = _count(ev)
        seen = _last_seen(ev)
        if key in folded:
            old = folded[key]
            latest = max((t for t in (old.last_seen, seen) if t is not None), default=None)
            folded[key] = old.model_copy(update={"count": old.count + count,
                                                 "last_seen": latest})
        else:
            folded[key] = KubeEvent(object=obj, type=key[1] or "Normal", reason=reason,
                                    message=message, count=count, last_seen=seen)
    ordered = sorted(folded.values(), key=_newest_first)
    return ordered[:keep], max(len(ordered) - keep, 0)


def _count(ev: Json) -> int:
    series = ev.get("series") or {}
    return max(integer(ev.get("count")), integer(series.get("count")), 1)


def _last_seen(ev: Json) -> datetime | None:
    series = ev.get("series") or {}
    for value in (ev.get("lastTimestamp"), series.get("lastObservedTime"), ev.get("eventTime"),
                  meta(ev).get("creationTimestamp")):
        stamp = when(value)
        if stamp is not None:
            return stamp
    return None


def _newest_first(e: KubeEvent) -> tuple[int, float]:
    # Warnings before Normal events of the same instant; undated events last.
    stamp = e.last_seen.timestamp() if e.last_seen is not None else float("-inf")
    return (0 if stamp != float("-inf") else 1, -stamp)
