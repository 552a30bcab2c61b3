"""The audit log's hash chain: one link per logged record, per incident, in the order written.

Why a chain of link objects beside the records, claimed with a conditional create:

- Records are named by event `time` (`incidents/<key>/<time>-<id>.json`) and arrive at least
  once, out of order and concurrently; an earlier copy of an event may even replace a logged
  one (the log keeps the earliest `time`). A chain in timeline order would have to be rewritten
  whenever a late record sorts before logged ones, and two writers reading the same predecessor
  would fork it silently.
- So the chain is in write order instead: `chain/<key>/<seq>.json` holds the record's key, the
  SHA-256 of its stored bytes, the hash of link `seq - 1` and the console's write time. Link
  `seq` is claimed with a create-only write (`If-None-Match: *` on S3/MinIO, `link()` on a
  folder): of two concurrent writers exactly one gets `seq`, the other re-reads the head and
  takes `seq + 1`. The chain cannot fork; a lost race costs one retry.
- Every link a record ever had stays: a replaced copy, or a record the console wrote again
  after a crash, gets a new link for the same event, and `orchestrator.console.verify` accepts
  the record that matches the latest link naming its key. Nothing is ever rewritten in place.
- Before its link, a writer drops a marker `chaindays/<YYYYmmdd>/<key>`, so sealing a day
  (`orchestrator.console.seal`) lists that day's incidents without walking the whole log.

A link hashes bytes, not meaning: any change to a record (its data, its `time`, its name)
breaks the match, and removing, reordering or inserting links breaks the `prev` hashes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.audit_layout import safe_name
from orchestrator.console.per_store import PerStore
from orchestrator.errors import TransientError

log = logging.getLogger(__name__)

CHAIN = "chain"
DAYS = "chaindays"
MAX_TRIES = 32
"""Lost races before a write gives up (and the broker redelivers): 32 writers of one incident
at the same instant is far past what the loop produces (about ten events per incident)."""


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def day_name(when: datetime | date) -> str:
    d = when.astimezone(UTC).date() if isinstance(when, datetime) else when
    return d.strftime("%Y%m%d")


def link_key(incident: str, seq: int) -> str:
    return f"{CHAIN}/{incident}/{seq:08d}.json"


def day_marker(day: str, incident: str) -> str:
    return f"{DAYS}/{day}/{incident}"


@dataclass(frozen=True)
class Link:
    """One link as stored; `hash` is the SHA-256 of its stored bytes (what the next link and
    the day root name)."""

    incident: str
    seq: int
    event: str
    key: str
    sha256: str
    prev: str
    at: str
    hash: str = ""

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.at)

    @property
    def day(self) -> str:
        return day_name(self.when)

    def to_json(self) -> bytes:
        doc = asdict(self)
        doc.pop("hash")
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, raw: bytes) -> Link:
        doc = json.loads(raw)
        return cls(incident=str(doc["incident"]), seq=int(doc["seq"]), event=str(doc["event"]),
                   key=str(doc["key"]), sha256=str(doc["sha256"]), prev=str(doc["prev"]),
                   at=str(doc["at"]), hash=digest(raw))


@dataclass(frozen=True)
class Stored:
    """A link as found in the store: its object key, and the link (None when unreadable)."""

    key: str
    link: Link | None


def stored_links(store: ObjectStore, incident: str) -> list[Stored]:
    """Every link object of the incident in key order, parsed where it parses. Not cached:
    verification must see the store as it is now, tampering included."""
    out = []
    for key in store.list(f"{CHAIN}/{incident}/"):
        if not key.endswith(".json"):
            continue
        raw = store.get(key)
        if raw is None:
            continue
        try:
            out.append(Stored(key, Link.parse(raw)))
        except (ValueError, KeyError, TypeError):
            out.append(Stored(key, None))
    return out


def links(store: ObjectStore, incident: str) -> list[Link]:
    return [s.link for s in stored_links(store, incident) if s.link is not None]


def incidents(store: ObjectStore) -> list[str]:
    """Every incident that has a chain."""
    return sorted({k.split("/")[1] for k in store.list(f"{CHAIN}/") if k.count("/") == 2})


class _Cache:
    """What this process knows of the chains it writes: each incident's chain as last seen
    (for `FRESH` seconds: another console replica's retention may delete a chain this one
    knows), and the day markers it has already dropped. Only an optimisation: a stale view
    costs a failed conditional create and a fresh read, never a fork. Links are always parsed
    from fresh reads (a deleted chain's keys come back with other links)."""

    def __init__(self) -> None:
        self.chains: dict[str, tuple[float, list[Link]]] = {}
        self.marked: set[str] = set()
        self.lock = threading.Lock()

    def load(self, store: ObjectStore, incident: str) -> list[Link]:
        found = links(store, incident)
        self.keep(incident, found)
        return found

    def known(self, incident: str) -> list[Link] | None:
        with self.lock:
            seen = self.chains.get(incident)
        if seen is None or time.monotonic() - seen[0] > FRESH:
            return None
        return list(seen[1])

    def keep(self, incident: str, found: list[Link]) -> None:
        with self.lock:
            if len(self.chains) >= _CACHE_SIZE:
                self.chains.clear()
            self.chains[incident] = (time.monotonic(), found)

    def mark(self, store: ObjectStore, marker: str) -> None:
        with self.lock:
            if marker in self.marked:
                return
        store.put(marker, b"", content_type="text/plain", if_absent=True)
        with self.lock:
            if len(self.marked) >= _CACHE_SIZE:
                self.marked.clear()
            self.marked.add(marker)


FRESH = 900.0
"""Seconds a writer trusts its view of a chain (15 min); retention works in whole days."""
_CACHE_SIZE = 4096
_cache = PerStore(_Cache)


def forget(store: ObjectStore, incident: str) -> None:
    """Drop this process's view of a chain that was deleted (retention)."""
    cache = _cache(store)
    with cache.lock:
        cache.chains.pop(incident, None)


def append(store: ObjectStore, *, incident: str, event: str, key: str, raw: bytes,
           wrote: bool, now: datetime) -> Link:
    """Link the record stored at `key` (whose stored bytes are `raw`) into its incident's chain.

    `wrote`: this call created the record. A record it did not write (a redelivery) is linked
    only when no link names its key yet (a crash between record and link); otherwise linking
    the stored bytes again would bless whatever someone changed them to."""
    if not safe_name(incident):
        raise ValueError(f"incident key {incident!r} cannot be a key segment")
    sha = digest(raw)
    at = now.astimezone(UTC)
    cache = _cache(store)
    cache.mark(store, day_marker(day_name(at), incident))
    # A record someone else may have linked is checked against the store itself.
    current = (cache.known(incident) if wrote else None) or cache.load(store, incident)
    for _ in range(MAX_TRIES):
        mine = [x for x in current if x.key == key]
        if mine and (mine[-1].sha256 == sha or not wrote):
            return mine[-1]
        head = current[-1] if current else None
        link = Link(incident=incident, seq=head.seq + 1 if head else 0, event=event, key=key,
                    sha256=sha, prev=head.hash if head else "", at=at.isoformat())
        raw_link = link.to_json()
        if store.put(link_key(incident, link.seq), raw_link, if_absent=True):
            done = Link.parse(raw_link)
            cache.keep(incident, [*current, done])
            return done
        current = cache.load(store, incident)  # another writer took this seq: move past it
    raise TransientError(f"could not link {key} into the audit chain after {MAX_TRIES} tries")
