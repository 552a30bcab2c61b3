"""Day roots: the console's signature over each UTC day of the audit chain, and retention.

A hash chain alone only shows edits that do not rewrite everything after them; whoever can
write the bucket can rebuild a chain from the edited record on. The sweep therefore seals each
finished day: `roots/<YYYYmmdd>.json` lists, for every incident whose chain grew that day (by
the console's write time, which only moves forward, unlike event times), the last link written
that day (`seq`, hash), names the previous day's root by its hash, and is signed with the
console's key. Rewriting a sealed link, or a record under it, then needs the key.

- A day is sealed once it is over plus `grace` (a write that took its clock reading just before
  midnight must have landed), every day in turn, empty ones included, so a missing root is a
  removed root, not a quiet day. Roots are create-only: two sweeps sealing at once keep one.
- The day still open is covered by the chain only. Each sealed root's hash is also logged, so
  the log pipeline holds a witness of the roots outside the bucket.
- Retention deletes only whole sealed days: it records the deletion (signed, create-only, with
  the hash of the last root it removes, so the next root's `previous` still verifies), then
  deletes every incident whose chain ended on or before that day, then the day's markers and
  root. An incident that went on past the day is kept whole until its last day expires.

`sign_root` and `root_signed` are the only places that sign or check: the key scheme can change
there alone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator import signing
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.console import chain
from orchestrator.provenance import Keyring, Signer

if TYPE_CHECKING:
    from orchestrator.settings.console import ConsoleSettings

log = logging.getLogger(__name__)

ROOTS = "roots"
RETENTION = "retention"
FORMAT = "%Y%m%d"


def sign_root(signer: Signer, payload: bytes) -> str:
    """The console's signature over a root or a retention record."""
    return signing.sign(signer, payload)


def root_signed(keyring: Keyring, payload: bytes, signature: str) -> bool:
    """Did the console (one of its keys in `keyring`) sign this root or retention record?"""
    return signing.verify(keyring, "console", payload, signature)


def payload(doc: dict[str, Any]) -> bytes:
    """What is signed: the document without its signature, canonical JSON."""
    return signing.canonical({k: v for k, v in doc.items() if k != "signature"})


def root_key(day: str) -> str:
    return f"{ROOTS}/{day}.json"


def retention_key(day: str) -> str:
    return f"{RETENTION}/{day}.json"


def parse_day(name: str) -> date:
    return datetime.strptime(name, FORMAT).replace(tzinfo=UTC).date()


def next_day(name: str, n: int = 1) -> str:
    return (parse_day(name) + timedelta(days=n)).strftime(FORMAT)


def root_days(store: ObjectStore) -> list[str]:
    return [k[len(ROOTS) + 1:-5] for k in store.list(f"{ROOTS}/") if k.endswith(".json")]


def heads(links: list[chain.Link], day: str) -> dict[str, Any] | None:
    """The last link of one incident's chain written on `day`, as a root lists it."""
    found = [x for x in links if x.day == day]
    if not found:
        return None
    last = max(found, key=lambda x: x.seq)
    return {"incident": last.incident, "seq": last.seq, "hash": last.hash}


def _marked_days(store: ObjectStore) -> list[str]:
    return sorted({k.split("/")[1] for k in store.list(f"{chain.DAYS}/") if k.count("/") == 2})


@dataclass(frozen=True)
class Policy:
    """How the sweep treats the audit log: `keep_days` 0 keeps it forever."""

    keep_days: int = 0
    grace: timedelta = timedelta(minutes=10)

    @classmethod
    def from_settings(cls, s: ConsoleSettings) -> Policy:
        """From `ConsoleSettings` (`audit_retention_days`, `audit_seal_grace_seconds`)."""
        return cls(keep_days=s.audit_retention_days,
                   grace=timedelta(seconds=s.audit_seal_grace_seconds))


@dataclass
class SealReport:
    sealed: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    deleted_incidents: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"sealed": self.sealed, "expired_days": self.expired,
                "deleted_incidents": self.deleted_incidents}


def seal(store: ObjectStore, *, signer: Signer, now: datetime, grace: timedelta,
         report: SealReport | None = None) -> SealReport:
    """Seal every finished day not sealed yet, oldest first."""
    report = report or SealReport()
    sealed = root_days(store)
    if sealed:
        day = next_day(sealed[-1])
        previous_raw = store.get(root_key(sealed[-1]))
        previous = chain.digest(previous_raw) if previous_raw is not None else None
    else:
        marked = _marked_days(store)
        if not marked:
            return report
        day, previous = marked[0], _retained_previous(store, marked[0])
    while datetime.combine(parse_day(day) + timedelta(days=1), datetime.min.time(),
                           tzinfo=UTC) + grace <= now:
        raw = _seal_day(store, day, signer=signer, previous=previous, now=now)
        previous = chain.digest(raw)
        report.sealed.append(day)
        log.info("audit day %s sealed: root sha256 %s", day, previous)
        day = next_day(day)
    return report


def _retained_previous(store: ObjectStore, first: str) -> str | None:
    """Where retention removed the days before `first`, the hash of the last root it removed."""
    raw = store.get(retention_key(next_day(first, -1)))
    return str(json.loads(raw).get("root")) if raw is not None else None


def _seal_day(store: ObjectStore, day: str, *, signer: Signer, previous: str | None,
              now: datetime) -> bytes:
    found = []
    for marker in store.list(f"{chain.DAYS}/{day}/"):
        head = heads(chain.links(store, marker.rsplit("/", 1)[-1]), day)
        if head is not None:
            found.append(head)
    doc: dict[str, Any] = {"day": day, "heads": sorted(found, key=lambda h: h["incident"]),
                           "previous": previous, "sealed_at": now.astimezone(UTC).isoformat()}
    doc["signature"] = sign_root(signer, payload(doc))
    raw = json.dumps(doc, sort_keys=True).encode()
    if not store.put(root_key(day), raw, if_absent=True):
        raw = store.get(root_key(day)) or raw  # another sweep sealed it first: theirs stands
    return raw


def expire(store: ObjectStore, *, signer: Signer, now: datetime, keep_days: int,
           report: SealReport | None = None) -> SealReport:
    """Delete whole sealed days older than `keep_days`, recording each deletion first."""
    report = report or SealReport()
    cutoff = (now.astimezone(UTC).date() - timedelta(days=keep_days)).strftime(FORMAT)
    for day in root_days(store):
        if day >= cutoff:
            break
        raw = store.get(root_key(day))
        if raw is None:
            continue
        incidents = [m.rsplit("/", 1)[-1] for m in store.list(f"{chain.DAYS}/{day}/")]
        ended = [i for i in incidents if _last_day(store, i) <= day]
        doc: dict[str, Any] = {"day": day, "root": chain.digest(raw), "deleted": sorted(ended),
                               "kept": sorted(set(incidents) - set(ended)),
                               "at": now.astimezone(UTC).isoformat()}
        doc["signature"] = sign_root(signer, payload(doc))
        store.put(retention_key(day), json.dumps(doc, sort_keys=True).encode(), if_absent=True)
        for incident in ended:
            _delete_incident(store, incident)
        for marker in store.list(f"{chain.DAYS}/{day}/"):
            store.delete(marker)
        store.delete(root_key(day))
        report.expired.append(day)
        report.deleted_incidents += len(ended)
        log.info("audit retention: day %s deleted (%d incident(s); %d kept, they went on "
                 "later)", day, len(ended), len(doc["kept"]))
    return report


def _last_day(store: ObjectStore, incident: str) -> str:
    found = chain.links(store, incident)
    return max((x.day for x in found), default="")


def _delete_incident(store: ObjectStore, incident: str) -> None:
    from orchestrator.console import audit, index

    for prefix in (f"{audit.INCIDENTS}/{incident}/", f"{audit.IDS}/{incident}/",
                   f"{chain.CHAIN}/{incident}/"):
        for k in store.list(prefix):
            store.delete(k)
    store.delete(index.index_key(incident))
    chain.forget(store, incident)
