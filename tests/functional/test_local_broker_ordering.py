"""The local broker's ordering, concurrency, chaos mode and hop limit, over real HTTP."""

from __future__ import annotations

import threading
from pathlib import Path

from orchestrator.local.broker import Broker
from tests.functional.local_broker_support import (
    Request,
    Respond,
    accept,
    ce,
    eventing,
    running,
    subscribers,
    trigger,
)

TYPE_T = "filter:\n  attributes: {type: test.t}"


def blocking_on(event_id: str, release: threading.Event) -> Respond:
    def respond(req: Request) -> tuple[int, dict[str, str], bytes]:
        if req.ce_id == event_id:
            release.wait(10)
        return 202, {}, b""
    return respond


def test_ordered_trigger_serializes_a_key_while_others_proceed(tmp_path: Path) -> None:
    config = eventing(tmp_path / "ev", trigger("ord", "ordered", filters=TYPE_T, ordered=True),
                      trigger("unord", "unordered", filters=TYPE_T))
    hold_ordered, hold_unordered = threading.Event(), threading.Event()
    try:
        with subscribers(ordered=blocking_on("e1", hold_ordered),
                         unordered=blocking_on("e1", hold_unordered), sink=accept) as subs, \
                running(config, tmp_path / "q.db", {n: s.url for n, s in subs.items()}) as broker:
            broker.publish(*ce("test.t", "e1", partitionkey="k1"))
            broker.publish(*ce("test.t", "e2", partitionkey="k1"))
            broker.publish(*ce("test.t", "e3", partitionkey="k2"))
            # Unordered: e2 and e3 pass e1, which is still being handled.
            assert {r.ce_id for r in subs["unordered"].wait_for(3)} == {"e1", "e2", "e3"}
            # Ordered: k2 proceeds, but e2 waits behind e1 (same partition key).
            assert {r.ce_id for r in subs["ordered"].wait_for(2)} == {"e1", "e3"}
            assert "e2" not in {r.ce_id for r in subs["ordered"].requests}
            hold_ordered.set()
            assert [r.ce_id for r in subs["ordered"].wait_for(3)][-1] == "e2"
            hold_unordered.set()
            assert broker.wait_idle(10)
    finally:
        hold_ordered.set()
        hold_unordered.set()


def test_ordered_key_waits_for_retries_of_the_event_before_it(tmp_path: Path) -> None:
    config = eventing(tmp_path / "ev", trigger("ord", "ordered", filters=TYPE_T, ordered=True))
    failures = {"e1": 2}

    def flaky(req: Request) -> tuple[int, dict[str, str], bytes]:
        if failures.get(req.ce_id, 0) > 0:
            failures[req.ce_id] -= 1
            return 503, {}, b""
        return 202, {}, b""

    with subscribers(ordered=flaky, sink=accept) as subs, \
            running(config, tmp_path / "q.db", {n: s.url for n, s in subs.items()}) as broker:
        broker.publish(*ce("test.t", "e1"))  # no partitionkey: the key falls back to the id
        broker.publish(*ce("test.t", "e2", partitionkey="e1"))
        assert broker.wait_idle(10)
        assert [r.ce_id for r in subs["ordered"].requests] == ["e1", "e1", "e1", "e2"]


def test_chaos_delivers_twice_in_shuffled_order_keeping_key_order(tmp_path: Path) -> None:
    config = eventing(tmp_path / "ev", trigger("ord", "ordered", filters=TYPE_T, ordered=True),
                      trigger("unord", "unordered", filters=TYPE_T))
    sent = [f"e{i:02d}" for i in range(12)]
    with subscribers(ordered=accept, unordered=accept, sink=accept) as subs:
        broker = Broker(db_path=tmp_path / "q.db", config=config, time_scale=0.01, chaos=True,
                        seed=7, subscribers={n: s.url for n, s in subs.items()})
        try:
            # Queued before the dispatcher starts, so it has the whole batch to shuffle.
            for i, event_id in enumerate(sent):
                broker.publish(*ce("test.t", event_id, partitionkey=f"k{i % 3}"))
            broker.start()
            assert broker.wait_idle(10)
        finally:
            broker.close()
    unordered = [r.ce_id for r in subs["unordered"].requests]
    assert sorted(unordered) == sorted(sent * 2)
    first_seen = list(dict.fromkeys(unordered))
    assert first_seen != sent
    ordered = subs["ordered"].requests
    assert sorted(r.ce_id for r in ordered) == sorted(sent * 2)
    for key in ("k0", "k1", "k2"):
        ids = [r.ce_id for r in ordered if r.headers["ce-partitionkey"] == key]
        assert ids == sorted(ids), f"{key} delivered out of order: {ids}"


def test_hop_limit_cuts_a_reply_loop_and_dead_letters_it(tmp_path: Path) -> None:
    config = eventing(tmp_path / "ev", trigger("loop", "looper", filters=TYPE_T))

    def loop(req: Request) -> tuple[int, dict[str, str], bytes]:
        # A function that (wrongly) replies with a type its own Trigger matches.
        return (200, *ce("test.t", req.ce_id + "+", {"n": len(req.ce_id)}))

    with subscribers(looper=loop, sink=accept) as subs, \
            running(config, tmp_path / "q.db", {n: s.url for n, s in subs.items()},
                    max_ttl=4) as broker:
        broker.publish(*ce("test.t", "x"))
        assert broker.wait_idle(10)
        calls = subs["looper"].requests
        assert [r.ce_id for r in calls] == ["x", "x+", "x++", "x+++"]
        assert not any("ce-knativebrokerttl" in r.headers for r in calls)
        assert [e.ttl for e in broker.events()] == [4, 3, 2, 1, 0]
        (dead,) = broker.list_deadletters()
        assert dead.reason == "hop limit reached" and dead.event.attributes["id"] == "x++++"
        (dls,) = subs["sink"].wait_for(1)
        assert dls.headers["ce-id"] == "x++++" and dls.headers["ce-knativeerrorcode"] == "0"
        # Redelivering it cannot restart the loop: its reply is cut again at once.
        broker.redeliver_deadletter(dead.id)
        assert broker.wait_idle(10)
        assert len(subs["looper"].requests) == 5 and len(broker.list_deadletters()) == 2
