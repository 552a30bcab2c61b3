"""The local broker's queue survives restarts, and a dead letter survives a sink that is down."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from orchestrator.local.broker import Broker
from orchestrator.local.triggers import load_eventing
from orchestrator.resources import eventing_dir
from tests.fakes.serving import free_port, wait_until
from tests.functional.local_broker_support import (
    Subscriber,
    accept,
    ce,
    eventing,
    running,
    subscribers,
    trigger,
)

TYPE_T = "filter:\n  attributes: {type: test.t}"
# Enough retries that nothing is dead-lettered while the subscriber is down for a moment.
PATIENT = "retry: 20\nbackoffPolicy: linear\nbackoffDelay: PT1S"


def attempted(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM deliveries WHERE attempts > 0").fetchone()[0])


def test_pending_deliveries_survive_a_restart(tmp_path: Path) -> None:
    config = eventing(tmp_path / "ev", trigger("t", "app", filters=TYPE_T, delivery=PATIENT))
    port, db = free_port(), tmp_path / "q.db"
    app_url = f"http://127.0.0.1:{port}"
    with subscribers(sink=accept) as subs:
        with running(config, db, {"app": app_url, "sink": subs["sink"].url},
                     time_scale=0.05) as broker:
            for i in range(3):
                broker.publish(*ce("test.t", f"e{i}"))
            wait_until(lambda: attempted(db) == 3, what="three delivery attempts")
            assert broker.stats()["pending"] + broker.stats()["in_flight"] == 3
        app = Subscriber(accept, port=port)
        try:
            with running(config, db, {"app": app_url, "sink": subs["sink"].url},
                         time_scale=0.05) as broker:
                assert sorted(r.ce_id for r in app.wait_for(3)) == ["e0", "e1", "e2"]
                assert broker.wait_idle(10)
                stats = broker.stats()
                assert (stats["done"], stats["deadletters"], stats["events"]) == (3, 0, 3)
        finally:
            app.close()


def test_deliveries_in_flight_at_a_crash_are_sent_again(tmp_path: Path) -> None:
    config = eventing(tmp_path / "ev", trigger("t", "app", filters=TYPE_T))
    db = tmp_path / "q.db"
    with subscribers(app=accept, sink=accept) as subs:
        urls = {n: s.url for n, s in subs.items()}
        crashed = Broker(db_path=db, subscribers=urls, config=config)
        crashed.publish(*ce("test.t", "e1"))
        crashed.close()
        # What a process killed mid-request leaves behind.
        with closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("UPDATE deliveries SET state = 'in_flight', claimed_at = 1")
        with running(config, db, urls) as broker:
            assert [r.ce_id for r in subs["app"].wait_for(1)] == ["e1"]
            assert broker.wait_idle(10)


def test_dead_letters_wait_for_a_sink_that_is_down(tmp_path: Path) -> None:
    config = eventing(tmp_path / "ev", trigger("t", "app", filters=TYPE_T))
    port = free_port()
    with subscribers(app=lambda r: (400, {}, b"no")) as subs, \
            running(config, tmp_path / "q.db",
                    {"app": subs["app"].url, "sink": f"http://127.0.0.1:{port}"}) as broker:
        broker.publish(*ce("test.t", "e1"))
        wait_until(lambda: broker.stats()["sink_pending"] == 1, what="one event pending for the sink")
        (dead,) = broker.list_deadletters()
        assert dead.sink_state == "pending" and dead.code == 400
        assert not broker.wait_idle(0.2)
        sink = Subscriber(accept, port=port)
        try:
            (got,) = sink.wait_for(1)
            assert got.path == "/deadletter" and got.headers["ce-knativeerrorcode"] == "400"
            assert broker.wait_idle(10)
            assert broker.list_deadletters()[0].sink_state == "sent"
        finally:
            sink.close()


def test_packaged_eventing_needs_a_url_for_every_function(tmp_path: Path) -> None:
    config = load_eventing(eventing_dir())
    with pytest.raises(ValueError, match="agent, console, executor"):
        Broker(db_path=tmp_path / "q.db", config=config, subscribers={"router": "http://x"})
