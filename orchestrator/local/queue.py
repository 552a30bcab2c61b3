"""The local broker's durable queue: events, per-Trigger deliveries and dead letters in SQLite.

Kafka keeps an event until every consumer group has committed past it; this file plays that part
on one machine. An event is committed (WAL, synchronous=FULL) before the ingress answers 202, and
its fan-out to Triggers happens in the same transaction, so a crash can lose nothing that was
acknowledged. Retries are rows with a `next_attempt_at`, not sleeping threads, so a restart keeps
the schedule; rows left `in_flight` by a dead process are put back to `pending` on start.

One Broker process owns a database file at a time (in_flight rows are reset on start).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.local.wire import WireEvent, decode_data

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL,
    type            TEXT NOT NULL,
    incidentkey     TEXT,
    attributes      TEXT NOT NULL,   -- JSON object of every attribute except knativebrokerttl
    body            BLOB NOT NULL,   -- the data bytes exactly as received
    ttl             INTEGER NOT NULL,
    origin          TEXT NOT NULL,   -- ingress | reply | redeliver
    parent_delivery INTEGER,         -- for a reply: the delivery that produced it
    received_at     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_incident ON events (incidentkey, seq);
CREATE TABLE IF NOT EXISTS deadletters (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq     INTEGER NOT NULL REFERENCES events (seq),
    trigger       TEXT NOT NULL,
    delivery_id   INTEGER,
    reason        TEXT NOT NULL,
    code          INTEGER,           -- last HTTP status; NULL for a network error or hop limit
    error_data    BLOB NOT NULL,     -- first 1 KiB of the last response body, or the error text
    attempts      INTEGER NOT NULL,
    dest          TEXT NOT NULL,     -- the subscriber URL (knativeerrordest)
    ttl           INTEGER NOT NULL,
    sink_state    TEXT NOT NULL CHECK (sink_state IN ('none', 'pending', 'sent', 'rejected')),
    created_at    REAL NOT NULL,
    redelivered_at REAL,
    redeliveries  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('trigger', 'deadletter')),
    event_seq       INTEGER NOT NULL REFERENCES events (seq),
    trigger         TEXT NOT NULL,
    order_key       TEXT,            -- partition key on ordered Triggers, else NULL
    ttl             INTEGER NOT NULL,
    deadletter_id   INTEGER REFERENCES deadletters (id),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claimed_at      REAL,
    last_code       INTEGER,
    last_error      TEXT,
    created_at      REAL NOT NULL,
    finished_at     REAL
);
CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries (state, next_attempt_at, id);
CREATE INDEX IF NOT EXISTS deliveries_by_key ON deliveries (trigger, order_key, state, id);
"""

# A row is ready when due and, on an ordered Trigger, no earlier row of its key is unfinished:
# that is Kafka's per-partition blocking, kept across retries and restarts.
_READY = """
SELECT d.id FROM deliveries d
WHERE d.state = 'pending' AND d.next_attempt_at <= ?
  AND (d.order_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM deliveries p
      WHERE p.trigger = d.trigger AND p.order_key = d.order_key
        AND p.state IN ('pending', 'in_flight') AND p.id < d.id))
ORDER BY d.next_attempt_at, d.id LIMIT ?
"""
# Queries are constants (no string building): every value goes through a `?` parameter.
_CLAIMED = """
SELECT d.id, d.kind, d.trigger, d.attempts, d.ttl, d.deadletter_id,
       e.seq, e.attributes, e.body, e.ttl, e.origin, e.parent_delivery, e.received_at
FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.id = ?
"""
_EVENTS = """
SELECT e.seq, e.attributes, e.body, e.ttl, e.origin, e.parent_delivery, e.received_at
FROM events e WHERE ? IS NULL OR e.incidentkey = ? ORDER BY e.seq
"""
_DEADLETTERS = """
SELECT x.id, x.trigger, x.delivery_id, x.reason, x.code, x.error_data, x.attempts, x.dest, x.ttl,
       x.sink_state, x.created_at, x.redelivered_at, x.redeliveries,
       e.seq, e.attributes, e.body, e.ttl, e.origin, e.parent_delivery, e.received_at
FROM deadletters x JOIN events e ON e.seq = x.event_seq
WHERE ? IS NULL OR x.id = ? ORDER BY x.id
"""


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    attributes: dict[str, str]
    body: bytes
    ttl: int
    origin: str
    parent_delivery: int | None
    received_at: float

    @property
    def data(self) -> Any:
        return decode_data(self.attributes, self.body)

    @property
    def wire(self) -> WireEvent:
        return WireEvent(attributes=dict(self.attributes), body=self.body, ttl=self.ttl)


@dataclass(frozen=True)
class Claimed:
    """A delivery row now `in_flight`, with everything needed to send it."""

    id: int
    kind: str
    trigger: str
    attempts: int
    ttl: int
    deadletter_id: int | None
    event: StoredEvent


@dataclass(frozen=True)
class DeadLetter:
    id: int
    trigger: str
    delivery_id: int | None
    reason: str
    code: int | None
    error_data: bytes
    attempts: int
    dest: str
    ttl: int
    sink_state: str
    created_at: float
    redelivered_at: float | None
    redeliveries: int
    event: StoredEvent


def _event(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(seq=row[0], attributes=json.loads(row[1]), body=bytes(row[2]), ttl=row[3],
                       origin=row[4], parent_delivery=row[5], received_at=row[6])


class Tx:
    """Writes made inside one transaction; only `Queue.tx()` creates it."""

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self._c, self.now = conn, now

    def add_event(self, event: WireEvent, *, ttl: int, origin: str,
                  parent_delivery: int | None = None) -> int:
        attrs = event.attributes
        cur = self._c.execute(
            "INSERT INTO events (id, type, incidentkey, attributes, body, ttl, origin,"
            " parent_delivery, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (attrs["id"], attrs["type"], attrs.get("incidentkey"), json.dumps(attrs),
             event.body, ttl, origin, parent_delivery, self.now))
        return int(cur.lastrowid or 0)

    def add_delivery(self, event_seq: int, trigger: str, *, ttl: int, order_key: str | None = None,
                     kind: str = "trigger", deadletter_id: int | None = None) -> int:
        cur = self._c.execute(
            "INSERT INTO deliveries (kind, event_seq, trigger, order_key, ttl, deadletter_id,"
            " state, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (kind, event_seq, trigger, order_key, ttl, deadletter_id, self.now, self.now))
        return int(cur.lastrowid or 0)

    def add_deadletter(self, event_seq: int, trigger: str, *, delivery_id: int | None,
                       reason: str, code: int | None, error_data: bytes, attempts: int,
                       dest: str, ttl: int, sink: bool) -> int:
        """Record a dead letter; with `sink`, also queue its POST to the dead-letter sink."""
        cur = self._c.execute(
            "INSERT INTO deadletters (event_seq, trigger, delivery_id, reason, code, error_data,"
            " attempts, dest, ttl, sink_state, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (event_seq, trigger, delivery_id, reason, code, error_data, attempts, dest, ttl,
             "pending" if sink else "none", self.now))
        dead_id = int(cur.lastrowid or 0)
        if sink:
            self.add_delivery(event_seq, trigger, ttl=ttl, kind="deadletter",
                              deadletter_id=dead_id)
        return dead_id

    def finish(self, delivery_id: int, *, state: str, attempts: int, code: int | None,
               error: str | None) -> None:
        self._c.execute(
            "UPDATE deliveries SET state = ?, attempts = ?, last_code = ?, last_error = ?,"
            " finished_at = ?, claimed_at = NULL WHERE id = ?",
            (state, attempts, code, error, self.now, delivery_id))

    def reschedule(self, delivery_id: int, *, attempts: int, at: float, code: int | None,
                   error: str) -> None:
        self._c.execute(
            "UPDATE deliveries SET state = 'pending', attempts = ?, next_attempt_at = ?,"
            " last_code = ?, last_error = ?, claimed_at = NULL WHERE id = ?",
            (attempts, at, code, error, delivery_id))

    def set_sink_state(self, deadletter_id: int, state: str) -> None:
        self._c.execute("UPDATE deadletters SET sink_state = ? WHERE id = ?",
                        (state, deadletter_id))

    def mark_redelivered(self, deadletter_id: int) -> None:
        self._c.execute("UPDATE deadletters SET redelivered_at = ?,"
                        " redeliveries = redeliveries + 1 WHERE id = ?",
                        (self.now, deadletter_id))


class Queue:
    """The SQLite file behind the broker; every method is safe to call from any thread."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE), never implicit.
        self._c = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._c.execute("PRAGMA journal_mode=WAL")
        self._c.execute("PRAGMA synchronous=FULL")
        self._c.execute("PRAGMA busy_timeout=5000")
        version = self._c.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            self._c.close()
            raise RuntimeError(f"{path}: queue schema version {version} is not "
                               f"{SCHEMA_VERSION}; use a fresh state directory")
        self._c.executescript(SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        with self._lock:
            self._c.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._c, self._clock())
                self._c.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (disk full) leaves the transaction open, and SQLite may have
                # rolled back on its own after SQLITE_FULL: either way, end it here, or every
                # later BEGIN on this connection fails and the broker is wedged for good.
                if self._c.in_transaction:
                    self._c.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._c.close()

    def reset_in_flight(self) -> int:
        """Put rows a previous process was sending back in line (they will be sent again)."""
        with self.tx() as tx:
            cur = self._c.execute("UPDATE deliveries SET state = 'pending', claimed_at = NULL,"
                                  " next_attempt_at = ? WHERE state = 'in_flight'", (tx.now,))
            return cur.rowcount

    def claim(self, pick: Callable[[list[int]], int] | None = None) -> Claimed | None:
        """Take one ready delivery; `pick` chooses among up to 256 ready ones (chaos mode)."""
        with self.tx() as tx:
            ids = [r[0] for r in self._c.execute(_READY, (tx.now, 256 if pick else 1))]
            if not ids:
                return None
            chosen = pick(ids) if pick else ids[0]
            self._c.execute("UPDATE deliveries SET state = 'in_flight', claimed_at = ?"
                            " WHERE id = ?", (tx.now, chosen))
            row = self._c.execute(_CLAIMED, (chosen,)).fetchone()
        return Claimed(id=row[0], kind=row[1], trigger=row[2], attempts=row[3], ttl=row[4],
                       deadletter_id=row[5], event=_event(row[6:]))

    def next_due(self) -> float | None:
        """When the next scheduled retry falls due (rows already due wait for a notification)."""
        with self._lock:
            row = self._c.execute("SELECT MIN(next_attempt_at) FROM deliveries"
                                  " WHERE state = 'pending' AND next_attempt_at > ?",
                                  (self._clock(),)).fetchone()
        return None if row[0] is None else float(row[0])

    def busy(self) -> int:
        """Deliveries (to subscribers or to the dead-letter sink) not finished yet."""
        with self._lock:
            row = self._c.execute("SELECT COUNT(*) FROM deliveries"
                                  " WHERE state IN ('pending', 'in_flight')").fetchone()
        return int(row[0])

    def stats(self) -> dict[str, int]:
        counts = {s: 0 for s in ("pending", "in_flight", "done", "dead")}
        counts |= {f"sink_{s}": 0 for s in counts}
        with self._lock:
            for kind, state, n in self._c.execute(
                    "SELECT kind, state, COUNT(*) FROM deliveries GROUP BY kind, state"):
                counts[state if kind == "trigger" else f"sink_{state}"] = n
            counts["events"] = self._c.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            counts["deadletters"] = self._c.execute(
                "SELECT COUNT(*) FROM deadletters").fetchone()[0]
        return counts

    def events(self, incident_key: str | None = None) -> list[StoredEvent]:
        with self._lock:
            rows = self._c.execute(_EVENTS, (incident_key, incident_key)).fetchall()
        return [_event(r) for r in rows]

    def deadletters(self, deadletter_id: int | None = None) -> list[DeadLetter]:
        with self._lock:
            rows = self._c.execute(_DEADLETTERS, (deadletter_id, deadletter_id)).fetchall()
        return [DeadLetter(id=r[0], trigger=r[1], delivery_id=r[2], reason=r[3], code=r[4],
                           error_data=bytes(r[5]), attempts=r[6], dest=r[7], ttl=r[8],
                           sink_state=r[9], created_at=r[10], redelivered_at=r[11],
                           redeliveries=r[12], event=_event(r[13:])) for r in rows]
