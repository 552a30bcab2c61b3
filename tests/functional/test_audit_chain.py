"""The tamper-evident audit log: the hash chain, the signed day roots, retention, and
`verify` finding each kind of tampering, on the local folder and on a real S3 server (moto)."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.adapters.object_store import MinioStore, ObjectStore
from orchestrator.console import audit, chain, seal
from orchestrator.console.verify import verify
from orchestrator.envelope import Outgoing
from orchestrator.provenance import Keyring
from tests import keys
from tests.functional.console_support import Story, received

SIGNER = keys.signer("console")
RING = keys.keyring()
DAY1 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
GRACE = timedelta(minutes=10)


def steps(story: Story) -> list[Outgoing]:
    return [story.alert_received(), story.context_enriched(), story.plan_proposed(),
            story.approval_requested(requested_at=story.start), story.action_completed()]


def history(store: ObjectStore) -> tuple[Story, Story]:
    """Two incidents: one within day 1, one that starts on day 1 and goes on into day 2;
    with a redelivery and an earlier copy of a logged event (which replaces it)."""
    a, b = Story(fingerprint="aaaa000011112222", start=DAY1), \
        Story(fingerprint="bbbb000011112222", start=DAY1)
    for i, out in enumerate(steps(a)):
        audit.write(store, received(out, DAY1 + timedelta(seconds=i)), now=DAY1 + timedelta(
            seconds=i))
    audit.write(store, received(a.alert_received(), DAY1 + timedelta(seconds=30)),
                now=DAY1 + timedelta(seconds=30))  # a redelivery: nothing new
    late = received(b.plan_proposed(), DAY1 + timedelta(seconds=9))
    audit.write(store, late, now=DAY1 + timedelta(seconds=9))
    audit.write(store, received(b.plan_proposed(), DAY1 + timedelta(seconds=2)),
                now=DAY1 + timedelta(seconds=10))  # an earlier copy takes its place
    audit.write(store, received(b.alert_received(), DAY1), now=DAY1 + timedelta(seconds=11))
    audit.write(store, received(b.resolved(), DAY2), now=DAY2)
    return a, b


def sealed(store: ObjectStore) -> seal.SealReport:
    return seal.seal(store, signer=SIGNER, now=DAY2 + timedelta(days=1) + GRACE, grace=GRACE)


def kinds(store: ObjectStore, keyring: Keyring | None = RING) -> list[tuple[str, str]]:
    return [(b.kind, b.where) for b in sorted(verify(store, keyring=keyring).breaks,
                                             key=lambda b: (b.at, b.where))]


def test_an_untouched_log_verifies_and_every_day_is_sealed(stores: Any) -> None:
    store: ObjectStore = stores()
    a, b = history(store)
    unsealed = verify(store, keyring=RING)
    assert unsealed.ok and unsealed.unsealed == ["20261120", "20261121"]  # a warning only
    assert sealed(store).sealed == ["20261120", "20261121"]
    report = verify(store, keyring=RING)
    assert report.ok, report.breaks
    assert report.unsealed == []
    assert (report.incidents, report.records, report.days) == (2, 8, ["20261120", "20261121"])
    # b's replaced copy keeps its first link: 4 links for 3 records.
    assert [x.seq for x in chain.links(store, b.key)] == [0, 1, 2, 3]
    root = json.loads(store.get(seal.root_key("20261121")) or b"")
    assert [h["incident"] for h in root["heads"]] == [b.key]
    assert root["previous"] == chain.digest(store.get(seal.root_key("20261120")) or b"")
    assert sealed(store).sealed == []  # sealing again seals nothing


def _record(store: ObjectStore, story: Story, n: int) -> str:
    return audit.record_keys(store, story.key)[n]


def test_a_changed_record_is_the_first_break(stores: Any) -> None:
    store: ObjectStore = stores()
    a, _ = history(store)
    sealed(store)
    key = _record(store, a, 2)
    doc = json.loads(store.get(key) or b"")
    doc["data"]["plan"]["confidence"] = 0.99
    store.put(key, json.dumps(doc).encode())
    report = verify(store, keyring=RING)
    assert report.first is not None and (report.first.kind, report.first.where) == ("changed",
                                                                                     key)
    assert len(report.breaks) == 1


def test_a_removed_record_is_reported(stores: Any) -> None:
    store: ObjectStore = stores()
    a, _ = history(store)
    key = _record(store, a, 1)
    store.delete(key)
    assert kinds(store) == [("removed", key)]


def test_a_record_moved_in_the_timeline_is_reordered(stores: Any) -> None:
    store: ObjectStore = stores()
    a, _ = history(store)
    key = _record(store, a, 3)
    folder, name = key.rsplit("/", 1)
    moved = f"{folder}/{name.replace('20261120T0900', '20261120T0800')}"
    store.put(moved, store.get(key) or b"")
    store.delete(key)
    assert kinds(store) == [("reordered", moved)]


def test_swapped_links_are_reordered(stores: Any) -> None:
    store: ObjectStore = stores()
    a, _ = history(store)
    one, two = chain.link_key(a.key, 1), chain.link_key(a.key, 2)
    raw1, raw2 = store.get(one) or b"", store.get(two) or b""
    store.put(one, raw2)
    store.put(two, raw1)
    assert ("reordered", one) in kinds(store)


def test_an_inserted_record_is_reported(stores: Any) -> None:
    store: ObjectStore = stores()
    a, _ = history(store)
    fake = f"incidents/{a.key}/20261120T090002500000Z-{'f' * 32}.json"
    store.put(fake, json.dumps({"id": "f" * 32, "type": "incident.plan.approved",
                                "incidentkey": a.key, "data": {}}).encode())
    assert kinds(store) == [("inserted", fake)]


def test_a_removed_link_is_reported(stores: Any) -> None:
    store: ObjectStore = stores()
    a, _ = history(store)
    store.delete(chain.link_key(a.key, 2))
    found = kinds(store)
    assert ("removed", chain.link_key(a.key, 3)) in found  # the gap in the chain


def test_a_rewritten_chain_tail_is_caught_by_the_sealed_root_alone(stores: Any) -> None:
    """Whoever can write the bucket can edit a record and rebuild every link after it, so the
    chain itself verifies; the signed day root still names the old head."""
    store: ObjectStore = stores()
    a, _ = history(store)
    sealed(store)
    key = _record(store, a, 4)
    doc = json.loads(store.get(key) or b"")
    doc["data"]["approver"] = "mallory@example.com"
    raw = json.dumps(doc).encode()
    store.put(key, raw)
    links = chain.links(store, a.key)
    prev = links[-2].hash
    forged = chain.Link(incident=a.key, seq=links[-1].seq, event=links[-1].event, key=key,
                        sha256=chain.digest(raw), prev=prev, at=links[-1].at)
    store.put(chain.link_key(a.key, forged.seq), forged.to_json())
    assert kinds(store) == [("changed", seal.root_key("20261120"))]
    assert verify(store, keyring=RING).first is not None


def test_a_forged_day_root_is_reported(stores: Any) -> None:
    store: ObjectStore = stores()
    history(store)
    sealed(store)
    where = seal.root_key("20261121")
    doc = json.loads(store.get(where) or b"")
    doc["heads"] = []
    doc["signature"] = seal.sign_root(keys.rogue("console"), seal.payload(doc))
    store.put(where, json.dumps(doc).encode())
    found = kinds(store)
    assert ("changed", where) in found  # the signature
    assert ("inserted", where) in found  # b's links of that day are no longer sealed
    # Without the key the structure is still checked, and the report says signatures were not.
    unsigned = verify(store, keyring=None)
    assert not unsigned.signatures and ("inserted", where) in [(b.kind, b.where)
                                                               for b in unsigned.breaks]


def test_a_removed_day_root_is_reported(stores: Any) -> None:
    store: ObjectStore = stores()
    history(store)
    sealed(store)
    store.delete(seal.root_key("20261120"))
    assert ("removed", seal.root_key("20261121")) in kinds(store)


def test_a_redelivery_does_not_bless_a_changed_record(stores: Any) -> None:
    store: ObjectStore = stores()
    a, _ = history(store)
    key = _record(store, a, 0)
    doc = json.loads(store.get(key) or b"")
    doc["data"]["alert"]["labels"]["severity"] = "info"
    store.put(key, json.dumps(doc).encode())
    audit.write(store, received(a.alert_received(), DAY1 + timedelta(seconds=40)),
                now=DAY1 + timedelta(seconds=40))
    assert kinds(store) == [("changed", key)]


def test_concurrent_writers_cannot_fork_the_chain(stores: Any) -> None:
    """Eight writers, each with its own client, log eight events of one incident at once."""
    first: ObjectStore = stores()
    story = Story(fingerprint="cccc000011112222", start=DAY1)
    outs = [story.escalated(reason="policy", detail=f"writer {i}") for i in range(8)]
    outs = [Outgoing(type=o.type, id=f"{i:032x}", function=o.function, incident_key=o.incident_key,
                     data=o.data) for i, o in enumerate(outs)]
    gate = threading.Barrier(len(outs))
    errors: list[BaseException] = []

    def write(out: Outgoing) -> None:
        store = stores()
        try:
            gate.wait(10)
            audit.write(store, received(out, DAY1), now=DAY1)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(o,)) for o in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    links = chain.links(first, story.key)
    assert [x.seq for x in links] == list(range(8))
    assert all(x.prev == y.hash for x, y in zip(links[1:], links, strict=False))
    assert verify(first, keyring=RING).ok


def test_retention_deletes_whole_expired_days_and_says_so(stores: Any) -> None:
    store: ObjectStore = stores()
    a, b = history(store)
    sealed(store)
    now = DAY2 + timedelta(days=1)
    report = seal.expire(store, signer=SIGNER, now=now, keep_days=1)
    assert report.expired == ["20261120"] and report.deleted_incidents == 1
    assert audit.record_keys(store, a.key) == [] and chain.links(store, a.key) == []
    assert len(audit.record_keys(store, b.key)) == 3  # it went on into day 2: kept whole
    assert seal.root_days(store) == ["20261121"]
    kept = json.loads(store.get(seal.retention_key("20261120")) or b"")
    assert (kept["deleted"], kept["kept"]) == ([a.key], [b.key])
    assert seal.root_signed(RING, seal.payload(kept), kept["signature"])
    assert verify(store, keyring=RING).ok
    assert seal.expire(store, signer=SIGNER, now=now, keep_days=1).expired == []
    # Late events of the deleted incident start a new chain (the writer forgot the old one).
    audit.write(store, received(a.resolved(), now), now=now)
    audit.write(store, received(a.escalated(), now), now=now)
    assert [x.seq for x in chain.links(store, a.key)] == [0, 1]
    assert verify(store, keyring=RING).ok
    # A day root removed without a retention record is still a break.
    store.delete(seal.retention_key("20261120"))
    assert ("removed", seal.root_key("20261121")) in kinds(store)


def test_the_cli_verifies_the_log_on_s3(s3: Any, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`orchestrator audit verify` where the chart's console keeps the log: an S3 bucket named
    by the console's settings, the console's public key from CONSOLE_PUBLIC_KEYS_DIR."""
    from orchestrator.cli import main

    bucket = f"cli-{random.randrange(16**8):08x}"
    store = MinioStore.connect(s3.endpoint, s3.access_key, s3.secret_key, bucket)
    a, _ = history(store)
    sealed(store)
    for name in [n for n in __import__("os").environ if n.startswith("CONSOLE_")]:
        monkeypatch.delenv(name)
    for name, value in {"CONSOLE_AUDIT_ENDPOINT": s3.endpoint, "CONSOLE_AUDIT_BUCKET": bucket,
                        "CONSOLE_AUDIT_ACCESS_KEY": s3.access_key,
                        "CONSOLE_AUDIT_SECRET_KEY": s3.secret_key,
                        "CONSOLE_PUBLIC_KEYS_DIR": str(keys.KEYS / "public"),
                        "XDG_DATA_HOME": str(tmp_path / "no-state")}.items():
        monkeypatch.setenv(name, value)
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("audit log intact: 2 incident(s), 8 record(s)")
    where = seal.root_key("20261120")
    doc = json.loads(store.get(where) or b"")
    doc["heads"] = doc["heads"][:1]
    store.put(where, json.dumps(doc).encode())
    assert main(["audit", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["first"]["where"] == where and report["first"]["kind"] == "changed"
    assert "signature does not verify" in report["first"]["detail"]


def test_records_logged_before_the_chain_are_inserted_until_adopted(stores: Any) -> None:
    from orchestrator.console.verify import adopt

    store: ObjectStore = stores()
    a, b = history(store)
    for key in store.list("chain/") + store.list("chaindays/"):
        store.delete(key)  # as a log written by a console without the chain looks
    chain.forget(store, a.key)
    chain.forget(store, b.key)
    before = verify(stores(), keyring=RING)
    assert {x.kind for x in before.breaks} == {"inserted"} and len(before.breaks) == 8
    assert adopt(store, now=DAY2) == {a.key: 5, b.key: 3}
    assert verify(stores(), keyring=RING).ok
    assert adopt(store, now=DAY2) == {}  # nothing left to adopt
