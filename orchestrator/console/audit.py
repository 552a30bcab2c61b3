"""The event-sourced audit log: every `incident.` event, once, as a create-only object.

Layout in the object store (MinIO, or a local folder in the embedded default):

- `incidents/<incident key>/<time>-<event id>.json`: the record `{"id", "type", "source",
  "subject", "time", "incidentkey", "partitionkey", "data"}` (plus the event's `traceparent` and
  `tracestate` when it carried them: a human's decision continues the trace of the request it
  answers, see `approvals`), `<time>` being the event's `time` attribute as
  `YYYYmmddTHHMMSSffffffZ`, so a listing is the incident's timeline;
- `ids/<incident key>/<event id>`: a marker naming the record's key. Delivery is at-least-once
  and a re-emitted event may carry the same id with another `time`: the log keeps one record,
  the earliest `time` (a copy emitted earlier but delivered later takes the logged one's place),
  and a redelivery after a half-done write completes it;
- `chain/<incident key>/<seq>.json`: the record's link in the incident's hash chain (see
  `orchestrator.console.chain`), written after the record;
- `fingerprints/<fingerprint>/<plan.created_at>-<event id>.json`: a copy of every
  `incident.plan.proposed` record, which the agent reads to reuse a recent plan (the keys the
  agent reads back are built in `orchestrator.audit_layout`, shared by both).

Records are immutable once written, so parsed records are cached per process.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.audit_layout import file_id, plan_copy_key, safe_name, stamp
from orchestrator.console import chain
from orchestrator.console.per_store import PerStore
from orchestrator.envelope import Event
from orchestrator.errors import PermanentError
from orchestrator.events import ACTION_COMPLETED, ESCALATED, PLAN_PROPOSED, RESOLVED
from orchestrator.times import rfc3339_or_none

log = logging.getLogger(__name__)
T = TypeVar("T")

INCIDENTS = "incidents"
IDS = "ids"
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Record:
    """One audit record, as stored."""

    id: str
    type: str
    source: str
    subject: str | None
    time: str
    incidentkey: str
    partitionkey: str | None
    data: Any
    traceparent: str | None = None
    tracestate: str | None = None

    @property
    def when(self) -> datetime:
        return rfc3339_or_none(self.time, naive_as_utc=True) or datetime.min.replace(tzinfo=UTC)

    def trace(self) -> dict[str, str]:
        """The trace context the event carried (CloudEvents distributed-tracing extension)."""
        return {k: v for k, v in (("traceparent", self.traceparent),
                                  ("tracestate", self.tracestate)) if v}

    def to_json(self) -> bytes:
        return json.dumps({"id": self.id, "type": self.type, "source": self.source,
                           "subject": self.subject, "time": self.time,
                           "incidentkey": self.incidentkey, "partitionkey": self.partitionkey,
                           **self.trace(), "data": self.data}, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Record:
        doc = json.loads(raw)
        return cls(id=str(doc["id"]), type=str(doc["type"]), source=str(doc.get("source", "")),
                   subject=doc.get("subject"), time=str(doc.get("time", "")),
                   incidentkey=str(doc["incidentkey"]), partitionkey=doc.get("partitionkey"),
                   data=doc.get("data"), traceparent=doc.get("traceparent"),
                   tracestate=doc.get("tracestate"))


def incident_of(event: Event) -> str:
    """The incident key of an event: its `incidentkey` extension, else its data's."""
    key = event.incident_key
    if not key and isinstance(event.data, dict):
        key = event.data.get("incident_key")
    if not isinstance(key, str) or not safe_name(key):
        raise PermanentError(f"event {event.id!r} has no usable incident key ({key!r})")
    return key


def record_of(event: Event, *, now: datetime) -> Record:
    when = rfc3339_or_none(event.time, naive_as_utc=True)
    text = event.time if when is not None and event.time else now.isoformat()
    return Record(id=event.id, type=event.type, source=event.source, subject=event.subject,
                  time=text, incidentkey=incident_of(event),
                  partitionkey=event.extensions.get("partitionkey"), data=event.data,
                  traceparent=event.extensions.get("traceparent"),
                  tracestate=event.extensions.get("tracestate"))


def write(store: ObjectStore, event: Event, *, now: datetime) -> tuple[Record, bool]:
    """Append one event to its incident's log; True when this call wrote it (not a redelivery)."""
    record = record_of(event, now=now)
    name = file_id(record.id)
    when = record.when if event.time else now
    key = f"{INCIDENTS}/{record.incidentkey}/{stamp(when)}-{name}.json"
    marker = f"{IDS}/{record.incidentkey}/{name}"
    replacing = False
    if not store.put(marker, key.encode(), content_type="text/plain", if_absent=True):
        logged = (store.get(marker) or key.encode()).decode()
        # A redelivered input re-emits its events under the same ids with later `time`s, and a
        # shuffling broker may hand us such a copy first: the earliest `time` is the event's,
        # so an earlier copy takes the logged one's place (below) without counting as new; a
        # later one only completes a write a crash left half done.
        if key >= logged:
            key = logged
        else:
            replacing = store.get(logged) is not None
    raw = record.to_json()
    created = store.put(key, raw, if_absent=True)
    kept = _one_copy(store, record.incidentkey, name, key, marker) if created else key
    written = created and kept == key and not replacing
    stored = raw if created and kept == key else store.get(kept)
    if stored is not None:
        chain.append(store, incident=record.incidentkey, event=record.id, key=kept, raw=stored,
                     wrote=created and kept == key, now=now)
    if record.type == PLAN_PROPOSED:
        _copy_plan(store, record)
    if record.type in _SETTLING:
        _remember(store, record.incidentkey)
    return record, written


# A router verdict settles the outcome of an applied action; either may be logged first.
_SETTLING = (ACTION_COMPLETED, RESOLVED, ESCALATED)


def _remember(store: ObjectStore, incident: str) -> None:
    """File the remediation memory of every router verdict in the incident's log (create-only:
    writing it again is a no-op), see `orchestrator.memory`."""
    from dataclasses import asdict

    from orchestrator import memory

    records = read(store, incident)
    dicts = [asdict(r) for r in records]
    for r, d in zip(records, dicts, strict=True):
        if r.type in (RESOLVED, ESCALATED) and r.source == "/orchestrator/router":
            memory.remember(store, memory.outcomes_of(d, dicts, at=r.when), event_id=r.id)


def _one_copy(store: ObjectStore, incident: str, name: str, mine: str, marker: str) -> str:
    """Keep one record per event id when two deliveries raced past the marker.

    A local folder's create-only write is atomic; S3's is check-then-put through this SDK, so two
    concurrent copies with different `time`s can both land. Every writer lists after writing
    and all agree to keep the smallest key: whichever writer lists last sees both and removes
    the other, so the log converges to one record. Returns the key kept.
    """
    copies = [k for k in record_keys(store, incident) if k.endswith(f"-{name}.json")]
    if len(copies) <= 1:
        return mine
    keep = min(copies)
    store.put(marker, keep.encode(), content_type="text/plain")
    for extra in copies:
        if extra != keep:
            store.delete(extra)
    log.info("event %s was logged twice by concurrent deliveries; kept %s", name, keep)
    return keep


def _copy_plan(store: ObjectStore, record: Record) -> None:
    from orchestrator.events import PlanProposed  # loads the plan models: not every event needs

    try:
        proposed = PlanProposed.model_validate(record.data)
    except ValidationError as e:
        log.warning("plan.proposed %s has invalid data, not indexed for reuse: %s", record.id,
                    e.errors()[0]["msg"])
        return
    fingerprint = proposed.alert.fingerprint
    if not safe_name(fingerprint):
        log.warning("fingerprint %r cannot be a key segment; plan not indexed", fingerprint)
        return
    key = plan_copy_key(fingerprint, proposed.plan.created_at, record.id)
    store.put(key, record.to_json(), if_absent=True)


class _Cache:
    """Parsed records by object key: records never change once written."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, Record] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Record | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, record: Record) -> None:
        with self._lock:
            self._items[key] = record
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_cache_for = PerStore(lambda: _Cache(_CACHE_SIZE))


def read_object(store: ObjectStore, key: str, parse: Callable[[bytes], T], what: str) -> T | None:
    """The object at `key` as `parse` reads it; None when it is gone or unreadable (warned and
    skipped, so one bad object never hides the others in a listing)."""
    raw = store.get(key)
    if raw is None:
        return None
    try:
        return parse(raw)
    except (ValueError, KeyError, TypeError) as e:
        log.warning("skipping unreadable %s %s: %s", what, key, e)
        return None


def record_keys(store: ObjectStore, incident: str) -> list[str]:
    if not safe_name(incident):
        return []
    return [k for k in store.list(f"{INCIDENTS}/{incident}/") if k.endswith(".json")]


def read(store: ObjectStore, incident: str, keys: list[str] | None = None) -> list[Record]:
    """The incident's records in time order (unreadable ones skipped with a warning)."""
    records = []
    cache = _cache_for(store)
    for key in record_keys(store, incident) if keys is None else keys:
        cached = cache.get(key)
        if cached is None:
            cached = read_object(store, key, Record.from_json, "audit record")
            if cached is None:
                continue
            cache.put(key, cached)
        records.append(cached)
    return sorted(records, key=lambda r: r.when)


def incident_keys(store: ObjectStore) -> list[str]:
    """Every incident the log holds (from the records themselves, not the index)."""
    found = {k.split("/")[1] for k in store.list(f"{INCIDENTS}/") if k.count("/") >= 2}
    return sorted(found)
