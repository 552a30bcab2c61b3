"""The index the incident list reads: one small summary object per incident, `index/<key>.json`.

It is a cache, rebuildable from the log at any time (`rebuild`). Not one shared object: S3 (as
reached through the adapter) has no compare-and-swap, so concurrent read-modify-writes of one
object lose updates. A per-incident summary is instead recomputed from the incident's whole log
and written; the writer then lists the log again, and rewrites while the log grew meanwhile. The
last write therefore always covers every record that existed before its check, and a record
appended after that check has a writer of its own that writes later: the summary converges.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from pydantic import ValidationError

from orchestrator import audit_layout
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.console import audit
from orchestrator.console.status import Summary, summarize

log = logging.getLogger(__name__)

INDEX = "index"
MAX_ROUNDS = 8
_STARTED = re.compile(r"-(\d{8}T\d{6}Z)$")


def index_key(incident: str) -> str:
    return f"{INDEX}/{incident}.json"


def refresh(store: ObjectStore, incident: str) -> Summary:
    """Recompute and store the incident's summary until it covers the whole log."""
    keys = audit.record_keys(store, incident)
    summary = summarize(incident, audit.read(store, incident, keys), keys)
    for _ in range(MAX_ROUNDS):
        store.put(index_key(incident), summary.model_dump_json().encode())
        again = audit.record_keys(store, incident)
        if again == keys:
            return summary
        keys = again
        summary = summarize(incident, audit.read(store, incident, keys), keys)
    log.warning("incident %s kept growing while its summary was written; it will be caught "
                "up by the next event or the next sweep", incident)
    return summary


def get(store: ObjectStore, incident: str) -> Summary | None:
    """The stored summary, else one computed from the log (and stored), else None."""
    if not audit_layout.safe_name(incident):
        return None
    raw = store.get(index_key(incident))
    if raw is not None:
        try:
            return Summary.model_validate_json(raw)
        except ValidationError as e:
            log.warning("index entry of %s unreadable (%s); recomputing", incident,
                        e.errors()[0]["msg"])
    if not audit.record_keys(store, incident):
        return None
    return refresh(store, incident)


def _started(key: str) -> str:
    # Incident keys end with the alert's startsAt, so the newest sort first without a read.
    m = _STARTED.search(key)
    return m.group(1) if m else ""


def indexed(store: ObjectStore) -> list[str]:
    """Incident keys in the index, newest first."""
    keys = [k[len(INDEX) + 1:-5] for k in store.list(f"{INDEX}/") if k.endswith(".json")]
    return sorted(keys, key=lambda k: (_started(k), k), reverse=True)


def summaries(store: ObjectStore, *, keep: Callable[[Summary], bool] = lambda s: True,
              limit: int = 200, scan: int = 2000) -> list[Summary]:
    """Summaries kept by `keep`, newest first: at most `limit`, reading at most `scan`."""
    found: list[Summary] = []
    keys = indexed(store)[:scan]
    for chunk in _chunks(keys, 32):
        with ThreadPoolExecutor(max_workers=8) as pool:
            for summary in pool.map(lambda k: _read(store, k), chunk):
                if summary is not None and keep(summary):
                    found.append(summary)
                    if len(found) >= limit:
                        return _newest_first(found)
    return _newest_first(found)


def _newest_first(found: list[Summary]) -> list[Summary]:
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda s: s.started_at or floor, reverse=True)


def _read(store: ObjectStore, incident: str) -> Summary | None:
    raw = store.get(index_key(incident))
    if raw is None:
        return None
    try:
        return Summary.model_validate_json(raw)
    except ValidationError:
        log.warning("index entry of %s unreadable; `orchestrator incidents list --rebuild` "
                    "recomputes it", incident)
        return None


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def rebuild(store: ObjectStore) -> int:
    """Recompute every summary from the log (and drop entries of incidents the log lacks)."""
    incidents = audit.incident_keys(store)
    for incident in incidents:
        refresh(store, incident)
    for stale in set(indexed(store)) - set(incidents):
        store.delete(index_key(stale))
    return len(incidents)
