"""Recompute the audit chain and the day roots and report every break, the first one first.

What each kind of break means:
- `changed`: a record's bytes no longer hash to its latest link, a link no longer hashes to
  what the next link or its day root names, or a root's signature does not verify;
- `removed`: an event the chain names has no record left, links are missing from a chain, or
  a day root is missing between two others (or before one, with no retention record saying so);
- `reordered`: a link sits under another sequence number than its own, or a record was moved
  to another place in the timeline (its bytes found under another name);
- `inserted`: a record, or a link written on a sealed day, that no chain or root accounts for.
  A record whose write is still in flight (its link follows it) shows the same way for a
  moment; a crash between the two is finished by the broker's redelivery. Records logged
  before the chain existed show so too until a human runs `orchestrator audit adopt` once.

Records and links are read afresh (no cache): this is the check that must see the store as it
is. See `orchestrator.console.chain` and `orchestrator.console.seal` for the design.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.audit_layout import parse_stamp
from orchestrator.console import audit, chain, seal
from orchestrator.provenance import Keyring

Kind = Literal["changed", "removed", "reordered", "inserted"]
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Break:
    kind: Kind
    where: str
    """The object key the break was found at."""
    detail: str
    at: datetime
    """When the broken piece was written (a link's time, a record's event time, a day's end):
    the first break is the earliest."""
    incident: str | None = None


@dataclass
class Report:
    breaks: list[Break] = field(default_factory=list)
    incidents: int = 0
    records: int = 0
    links: int = 0
    days: list[str] = field(default_factory=list)
    signatures: bool = False
    """False when no key was given: the roots' structure was checked, not who signed them."""
    unsealed: list[str] = field(default_factory=list)
    """Days before yesterday with links but no root: the sweep has not sealed them (it is not
    running, or has no key), or their roots were all removed; only the chain covers them."""

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return min(self.breaks, key=lambda b: (b.at, b.where)) if self.breaks else None

    def as_json(self) -> dict[str, Any]:
        def one(b: Break) -> dict[str, Any]:
            return {**asdict(b), "at": b.at.isoformat()}

        return {"ok": self.ok, "first": one(self.first) if self.first else None,
                "breaks": [one(b) for b in sorted(self.breaks, key=lambda b: (b.at, b.where))],
                "incidents": self.incidents, "records": self.records, "links": self.links,
                "days": self.days, "signatures_checked": self.signatures,
                "unsealed": self.unsealed}


STATUS = "audit-status.json"
"""The sweep's latest verdict on the recent log, which the incident list's banner shows."""


def save_status(store: ObjectStore, report: Report, *, now: datetime) -> None:
    first = report.first
    doc = {"ok": report.ok, "checked_at": now.isoformat(), "breaks": len(report.breaks),
           "first": None if first is None else
           {"kind": first.kind, "where": first.where, "detail": first.detail,
            "incident": first.incident}}
    store.put(STATUS, json.dumps(doc).encode())


def load_status(store: ObjectStore) -> dict[str, Any] | None:
    """The sweep's latest verdict, or None when there is none (or it is unreadable)."""
    raw = store.get(STATUS)
    try:
        doc = json.loads(raw) if raw is not None else None
    except ValueError:
        return {"ok": False, "first": {"detail": f"{STATUS} is unreadable"}}
    return doc if isinstance(doc, dict) else None


def _event_of(record_key: str) -> str:
    name = record_key.rsplit("/", 1)[-1].removesuffix(".json")
    return name.split("-", 1)[1] if "-" in name else name


def _record_time(record_key: str) -> datetime:
    name = record_key.rsplit("/", 1)[-1]
    try:
        return parse_stamp(name.split("-", 1)[0].removesuffix("Z"))
    except ValueError:
        return _NEVER


def check_incident(store: ObjectStore, incident: str,
                   stored: list[chain.Stored] | None = None) -> tuple[list[Break], int, int]:
    """The breaks in one incident's chain and records; with the counts of records and links."""
    stored = chain.stored_links(store, incident) if stored is None else stored
    breaks: list[Break] = []

    def add(kind: Kind, where: str, detail: str, at: datetime) -> None:
        breaks.append(Break(kind, where, detail, at, incident))

    latest: dict[str, chain.Link] = {}
    by_event: dict[str, list[chain.Link]] = defaultdict(list)
    expected, prev = 0, ""
    for s in stored:
        link = s.link
        if link is None:
            add("changed", s.key, "the link is not a link any more (unreadable)", _NEVER)
            expected, prev = expected + 1, "?"
            continue
        when = link.when
        if s.key != chain.link_key(incident, link.seq) or link.incident != incident:
            add("reordered", s.key, f"holds link {link.seq} of {link.incident}", when)
        elif link.seq != expected:
            add("removed", s.key, f"links {expected}..{link.seq - 1} are missing before it",
                when)
        elif link.prev != prev and prev != "?":
            add("changed", chain.link_key(incident, link.seq - 1),
                f"link {link.seq - 1} no longer hashes to what link {link.seq} names", when)
        expected, prev = link.seq + 1, link.hash
        latest[link.key] = link
        by_event[_event_of(link.key)].append(link)
    present = audit.record_keys(store, incident)
    for key in present:
        raw = store.get(key)
        if raw is None:
            continue
        sha = chain.digest(raw)
        link = latest.get(key)
        if link is not None:
            if link.sha256 != sha:
                add("changed", key, f"the record no longer matches link {link.seq}", link.when)
            continue
        moved = [x for x in by_event.get(_event_of(key), []) if x.sha256 == sha]
        if moved:
            add("reordered", key, f"the record of link {moved[-1].seq} was moved here from "
                f"{moved[-1].key}", moved[-1].when)
        elif not by_event.get(_event_of(key)):
            add("inserted", key, "no link names this record", _record_time(key))
        else:
            add("changed", key, "a record of a linked event that matches none of its links",
                _record_time(key))
    have = set(present)
    for event, found in by_event.items():
        if not any(x.key in have for x in found) and not any(
                _event_of(k) == event for k in present):
            add("removed", found[-1].key, f"the record of link {found[-1].seq} is gone",
                found[-1].when)
    return breaks, len(present), len(stored)


def _roots(store: ObjectStore, keyring: Keyring | None, since: str | None,
           chains: dict[str, list[chain.Stored]], report: Report) -> None:
    days = seal.root_days(store)
    previous: tuple[str, str] | None = None  # (day, hash of its root)
    for day in days:
        raw = store.get(seal.root_key(day))
        if raw is None:
            continue
        where, end = seal.root_key(day), datetime.combine(
            seal.parse_day(day), datetime.max.time(), tzinfo=UTC)

        def add(kind: Kind, detail: str, where: str = where, end: datetime = end) -> None:
            report.breaks.append(Break(kind, where, detail, end))

        try:
            doc = json.loads(raw)
        except ValueError:
            add("changed", "the day root is unreadable")
            previous = (day, chain.digest(raw))
            continue
        if since is None or day >= since:
            report.days.append(day)
            if keyring is not None and not seal.root_signed(keyring, seal.payload(doc),
                                                        str(doc.get("signature", ""))):
                add("changed", "the day root's signature does not verify: forged or altered")
            _previous(store, keyring, day, doc.get("previous"), previous, add)
            _heads(day, doc.get("heads") or [], chains, add)
        previous = (day, chain.digest(raw))


def _previous(store: ObjectStore, keyring: Keyring | None, day: str, named: Any,
              previous: tuple[str, str] | None, add: Any) -> None:
    before = seal.next_day(day, -1)
    if previous is not None and previous[0] == before:
        if named != previous[1]:
            add("changed", f"the root of {before} no longer hashes to what {day} names")
        return
    if previous is not None:
        add("removed", f"the day roots from {before} back to {seal.next_day(previous[0])} are "
            "missing")
        return
    raw = store.get(seal.retention_key(before))
    if raw is not None:
        doc = json.loads(raw)
        if keyring is not None and not seal.root_signed(keyring, seal.payload(doc),
                                                    str(doc.get("signature", ""))):
            add("changed", f"the retention record of {before} does not verify")
        elif named != doc.get("root"):
            add("changed", f"the retention record of {before} names another root")
    elif named is not None:
        add("removed", f"the day root of {before} is missing and no retention record says it "
            "was expired")


def _heads(day: str, listed: list[Any], chains: dict[str, list[chain.Stored]],
           add: Any) -> None:
    sealed = {str(h.get("incident")): h for h in listed if isinstance(h, dict)}
    for incident, stored in chains.items():
        links = [s.link for s in stored if s.link is not None]
        head = seal.heads(links, day)
        named = sealed.pop(incident, None)
        if head is None and named is None:
            continue
        if named is None:
            add("inserted", f"{incident}: links written on {day} that its root does not list")
        elif head is None or head["seq"] < named.get("seq", -1):
            add("removed", f"{incident}: link {named.get('seq')} sealed on {day} is gone")
        elif head["seq"] != named.get("seq"):
            add("inserted", f"{incident}: links after {named.get('seq')} claim to be from {day}")
        elif head["hash"] != named.get("hash"):
            add("changed", f"{incident}: link {head['seq']} differs from the one sealed")
    for incident in sealed:
        add("removed", f"{incident}: its chain, sealed on {day}, is gone")


def adopt(store: ObjectStore, *, now: datetime) -> dict[str, int]:
    """Link every record no link names, in timeline order: for a log written before the chain
    existed. It vouches for those records as they are now, so it is a human's explicit,
    one-time step (`orchestrator audit adopt`), never something the console does by itself."""
    adopted: dict[str, int] = {}
    for incident in audit.incident_keys(store):
        linked = {x.key for x in chain.links(store, incident)}
        for key in audit.record_keys(store, incident):
            raw = store.get(key)
            if key in linked or raw is None:
                continue
            chain.append(store, incident=incident, event=_event_of(key), key=key, raw=raw,
                         wrote=False, now=now)
            adopted[incident] = adopted.get(incident, 0) + 1
    return adopted


def _listed(raw: bytes) -> list[dict[str, Any]]:
    try:
        heads = json.loads(raw).get("heads") or []
    except (ValueError, AttributeError):
        return []
    return [h for h in heads if isinstance(h, dict)]


def verify(store: ObjectStore, *, keyring: Keyring | None, since: datetime | None = None,
           now: datetime | None = None) -> Report:
    """Check every incident and day root; with `since`, those of the days since then (a
    record added to an incident with no link and no day marker is then found only by a full
    check)."""
    since_day = chain.day_name(since) if since is not None else None
    now = now or datetime.now(UTC)
    report = Report(signatures=keyring is not None)
    if since_day is None:
        names = set(chain.incidents(store)) | set(audit.incident_keys(store))
    else:  # only what a day marker or a root since then names: not a walk of the whole log
        names = set()
        day, today = since_day, chain.day_name(now)
        while day <= today:
            names |= {k.rsplit("/", 1)[-1] for k in store.list(f"{chain.DAYS}/{day}/")}
            raw = store.get(seal.root_key(day))
            if raw is not None:
                names |= {str(h.get("incident")) for h in _listed(raw)}
            day = seal.next_day(day)
    chains = {name: chain.stored_links(store, name) for name in sorted(names)}
    for name, stored in chains.items():
        if since_day is not None and stored and all(
                s.link is not None and s.link.day < since_day for s in stored):
            continue
        found, records, links = check_incident(store, name, stored)
        report.breaks.extend(found)
        report.incidents += 1
        report.records += records
        report.links += links
    _roots(store, keyring, since_day, chains, report)
    sealed = set(seal.root_days(store))
    retained = [k.rsplit("/", 1)[-1][:-5] for k in store.list(f"{seal.RETENTION}/")]
    before = chain.day_name(now - timedelta(days=1))
    floor = max([since_day or "", *retained])
    report.unsealed = sorted({s.link.day for stored in chains.values() for s in stored
                              if s.link is not None and floor < s.link.day < before}
                             - sealed)
    return report
