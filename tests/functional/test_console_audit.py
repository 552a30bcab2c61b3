"""The audit log: create-only records, redelivery, reordering and concurrent writers, against a
real S3 server (moto) and the local folder; the index; the agent reading plans back."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.adapters.object_store import LocalDirStore, ObjectStore
from orchestrator.console import audit, index
from orchestrator.console.status import status_of
from orchestrator.decide.reuse import recorded_plans
from orchestrator.envelope import Outgoing
from tests import keys
from tests.functional.console_support import (
    Story,
    deliver,
    received,
)

T0 = datetime(2026, 11, 20, 9, 14, 3, 123456, tzinfo=UTC)


def test_one_record_per_event_keyed_by_time_and_id(stores) -> None:  # type: ignore[no-untyped-def]
    store: ObjectStore = stores()
    story = Story()
    ev = received(story.alert_received(), T0)
    record, written = audit.write(store, ev, now=datetime.now(UTC))
    assert written
    key = f"incidents/{story.key}/20261120T091403123456Z-{ev.id}.json"
    assert store.list(f"incidents/{story.key}/") == [key]
    doc = audit.Record.from_json(store.get(key) or b"")
    assert doc == record
    assert set(__import__("json").loads(store.get(key) or b"")) == {
        "id", "type", "source", "subject", "time", "incidentkey", "partitionkey", "data"}
    assert doc.partitionkey == story.alert.fingerprint


def test_redelivery_writes_nothing_twice_even_with_another_time(stores) -> None:  # type: ignore[no-untyped-def]
    store: ObjectStore = stores()
    story = Story()
    out = story.plan_proposed()
    first = audit.write(store, received(out, T0), now=T0)[1]
    again = audit.write(store, received(out, T0 + timedelta(seconds=7)), now=T0)[1]
    assert (first, again) == (True, False)
    assert len(store.list(f"incidents/{story.key}/")) == 1
    # The plan copy the agent reads, once, under the plan's creation time.
    copies = store.list(f"fingerprints/{story.alert.fingerprint}/")
    assert copies == [f"fingerprints/{story.alert.fingerprint}/"
                      f"{story.plan.created_at.strftime('%Y%m%dT%H%M%S%f')}Z-{out.id}.json"]


def test_a_copy_emitted_earlier_but_delivered_later_takes_its_place(stores) -> None:  # type: ignore[no-untyped-def]
    """Redelivery re-emits an event under its id with a later `time`, and a shuffling broker
    may hand the console that copy first. The log keeps the earliest `time`, or the timeline
    (and the status it gives) would put the plan after the approval request it led to."""
    store: ObjectStore = stores()
    story = Story()
    plan, ask = story.plan_proposed(), story.approval_requested()
    assert audit.write(store, received(plan, T0 + timedelta(seconds=5)), now=T0)[1] is True
    assert audit.write(store, received(ask, T0 + timedelta(seconds=2)), now=T0)[1] is True
    assert status_of(audit.read(store, story.key))[0] == "open"  # the late copy misleads
    assert audit.write(store, received(plan, T0 + timedelta(seconds=1)), now=T0)[1] is False
    records = audit.read(store, story.key)
    assert [r.type for r in records].count("incident.plan.proposed") == 1
    assert status_of(records)[0] == "awaiting approval"
    assert audit.write(store, received(plan, T0 + timedelta(seconds=9)), now=T0)[1] is False
    assert status_of(audit.read(store, story.key))[0] == "awaiting approval"


def test_the_agent_reads_the_plan_copies_back(stores) -> None:  # type: ignore[no-untyped-def]
    store: ObjectStore = stores()
    story = Story()
    audit.write(store, received(story.plan_proposed()), now=T0)
    found = recorded_plans(store, fingerprint=story.alert.fingerprint,
                           since=story.start - timedelta(hours=1))
    assert [r.plan for r in found] == [story.plan]


def test_half_done_write_is_completed_by_the_redelivery(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    story = Story()
    ev = received(story.alert_received(), T0)
    audit.write(store, ev, now=T0)
    (record_key,) = store.list(f"incidents/{story.key}/")
    store.delete(record_key)  # as if the process died between the marker and the record
    assert audit.write(store, received(story.alert_received(), T0 + timedelta(seconds=3)),
                       now=T0)[1]
    assert store.list(f"incidents/{story.key}/") == [record_key]


def test_reordered_delivery_ends_in_the_right_status(stores) -> None:  # type: ignore[no-untyped-def]
    store: ObjectStore = stores()
    story = Story()
    steps = [(story.alert_received(), 0), (story.context_enriched(), 1),
             (story.plan_proposed(), 2), (story.approval_requested(requested_at=T0), 3),
             (story.resolved(), 9)]
    for out, offset in reversed(steps):
        audit.write(store, received(out, T0 + timedelta(seconds=offset)), now=T0)
        index.refresh(store, story.key)
    summary = index.get(store, story.key)
    assert summary is not None
    assert (summary.status, summary.reason, summary.events) == ("resolved", "alert-resolved", 5)
    assert summary.target == "payments/Deployment/checkout"
    assert summary.alertname == "KubePodCrashLooping"
    # A late redelivery of an old event cannot move it backwards either.
    audit.write(store, received(story.context_enriched(), T0 + timedelta(seconds=60)), now=T0)
    assert index.refresh(store, story.key).status == "resolved"


def test_awaiting_approval_then_acting(stores) -> None:  # type: ignore[no-untyped-def]
    store: ObjectStore = stores()
    story = Story()
    for i, out in enumerate([story.alert_received(), story.plan_proposed(),
                             story.approval_requested(requested_at=T0)]):
        audit.write(store, received(out, T0 + timedelta(seconds=i)), now=T0)
    summary = index.refresh(store, story.key)
    assert summary.status == "awaiting approval"
    assert summary.approval is not None and summary.approval.plan_id == story.plan.plan_id
    audit.write(store, received(story.action_completed(), T0 + timedelta(seconds=30)), now=T0)
    assert index.refresh(store, story.key).status == "acting"


def test_concurrent_writers_converge(stores) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    outs = [story.alert_received(), story.context_enriched(), story.plan_proposed(),
            story.approval_requested(requested_at=T0), story.action_completed(),
            story.resolved(how="verified-healthy")]
    outs += [Story(fingerprint=f"{i:016x}").alert_received() for i in range(6)]
    # Every event three times, each copy with its own `time`, shuffled over 6 writers.
    jobs = [(out, T0 + timedelta(seconds=i, milliseconds=copy))
            for i, out in enumerate(outs) for copy in range(3)]
    random.Random(7).shuffle(jobs)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def writer(mine: list[tuple[Outgoing, datetime]]) -> None:
        store = stores()
        try:
            barrier.wait(10)
            for out, at in mine:
                ev = received(out, at)
                audit.write(store, ev, now=at)
                index.refresh(store, audit.incident_of(ev))
        except BaseException as e:  # handed to the test thread
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(jobs[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    store = stores()
    records = audit.read(store, story.key)
    assert sorted(r.id for r in records) == sorted(o.id for o in outs[:6])
    summary = index.get(store, story.key)
    assert summary is not None and summary.events == 6 and summary.status == "resolved"
    assert summary.digest == index.summarize(story.key, records,
                                             audit.record_keys(store, story.key)).digest
    assert len(index.indexed(store)) == 7


def test_index_is_a_cache_rebuilt_from_the_log(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    stories = [Story(fingerprint=f"{i:016x}", start=T0 + timedelta(minutes=i)) for i in range(3)]
    for s in stories:
        audit.write(store, received(s.alert_received(), T0), now=T0)
        index.refresh(store, s.key)
    for key in store.list("index/"):
        store.delete(key)
    store.put("index/gone-20200101T000000Z.json", b"{}")
    assert index.summaries(store) == []
    assert index.rebuild(store) == 3
    assert [s.incident_key for s in index.summaries(store)] == [s.key for s in reversed(stories)]



def test_deliveries_are_answered_202_and_never_with_an_event(
        tmp_path: Path, console_for: Callable[..., Any]) -> None:
    client = console_for()
    story = Story()
    for out in (story.alert_received(), story.alert_received(), story.escalated()):
        r = deliver(client, out)
        assert (r.status_code, r.data) == (202, b"")
        assert not any(h.lower().startswith("ce-") for h, _ in r.headers)
    records = audit.read(LocalDirStore(tmp_path / "audit"), story.key)
    assert [r.type for r in records] == ["incident.alert.received", "incident.escalated"]
    bad = client.post("/events", data=b"{}", headers=keys.seal({
        "ce-specversion": "1.0", "ce-type": "incident.alert.received", "ce-id": "x",
        "content-type": "application/json"}, b"{}"))
    assert bad.status_code == 400 and b"incident key" in bad.data
    other = client.post("/events", data=b"{}", headers={
        "ce-specversion": "1.0", "ce-type": "com.example.other", "ce-id": "y",
        "ce-source": "/elsewhere", "content-type": "application/json"})
    assert other.status_code == 400
