"""Watch events of the simulated kube-apiserver: store changes as a watcher sees them."""

from __future__ import annotations

from .errors import JSON
from .store import Change
from .wire import WatchRequest


class Expired(Exception):
    pass


def watch_event(w: WatchRequest, change: Change) -> JSON | None:
    """Translate a store change into a watch event for this watcher (or None)."""
    if change.rt is not w.rt:
        return None

    def visible(obj: JSON | None) -> bool:
        if obj is None:
            return False
        if w.namespace and obj["metadata"].get("namespace") != w.namespace:
            return False
        return w.matches(obj)

    before, after = visible(change.old), visible(change.new)
    if change.type == "ADDED":
        return {"type": "ADDED", "object": change.new} if after else None
    if change.type == "DELETED":
        return {"type": "DELETED", "object": change.new} if before else None
    if before and after:
        return {"type": "MODIFIED", "object": change.new}
    if after:
        return {"type": "ADDED", "object": change.new}
    if before:
        return {"type": "DELETED", "object": change.new}
    return None


def bookmark_event(w: WatchRequest, rv: int) -> JSON:
    """What the apiserver sends an idle watcher that asked for bookmarks: only the
    resourceVersion it may resume from, so a resumed watch does not fall behind compaction."""
    return {"type": "BOOKMARK", "object": {"kind": w.rt.kind, "apiVersion": w.rt.api_version,
                                           "metadata": {"resourceVersion": str(rv)}}}


def expired_event(rv: str, current: int) -> JSON:
    return {"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"too old resource version: {rv} ({current})", "reason": "Expired",
        "code": 410}}
