"""The local broker over real HTTP: routing, binary delivery, replies, retries, dead letters."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from orchestrator.local.triggers import EventingConfig
from tests.fakes.serving import free_port
from tests.functional.local_broker_support import (
    Request,
    Subscriber,
    ce,
    eventing,
    post,
    running,
    subscribers,
    trigger,
)

EXACT = "filter:\n  attributes: {type: test.a}"
PREFIX = "filters:\n  - prefix: {type: test.b.}"
ANY = "filters:\n  - any:\n      - exact: {type: test.c1}\n      - exact: {type: test.c2}"


def config(tmp_path: Path) -> EventingConfig:
    return eventing(tmp_path / "eventing",
                    trigger("a-exact", "alpha", filters=EXACT),
                    trigger("b-prefix", "beta", filters=PREFIX, uri="/b"),
                    trigger("c-any", "gamma", filters=ANY))


def urls(subs: dict[str, Subscriber]) -> dict[str, str]:
    return {name: sub.url for name, sub in subs.items()}


def test_filters_route_each_event_to_matching_triggers_only(tmp_path: Path) -> None:
    with subscribers(alpha=accept_all, beta=accept_all, gamma=accept_all, sink=accept_all) as subs, \
            running(config(tmp_path), tmp_path / "q.db", urls(subs)) as broker:
        for type_, id_ in [("test.a", "a1"), ("test.b.x", "b1"), ("test.c2", "c2"),
                           ("test.bb", "no-prefix"), ("test.a.more", "no-exact"),
                           ("test.z", "none")]:
            broker.publish(*ce(type_, id_))
        assert broker.wait_idle(10)
        assert [r.ce_id for r in subs["alpha"].requests] == ["a1"]
        assert [(r.path, r.ce_id) for r in subs["beta"].requests] == [("/b", "b1")]
        assert [r.ce_id for r in subs["gamma"].requests] == ["c2"]
        assert subs["sink"].requests == []
        stats = broker.stats()
        assert (stats["events"], stats["done"], stats["pending"]) == (6, 3, 0)
        # Events no Trigger matches are still stored (and shown in timelines).
        assert [e.attributes["id"] for e in broker.events()][-1] == "none"


def accept_all(_: Request) -> tuple[int, dict[str, str], bytes]:
    return 202, {}, b""


def test_delivery_is_binary_with_prefer_reply_and_no_ttl(tmp_path: Path) -> None:
    structured = {"specversion": "1.0", "type": "test.a", "id": "s1", "source": "/t",
                  "subject": "inc-1", "incidentkey": "inc-1", "data": {"x": 1}}
    with subscribers(alpha=accept_all, beta=accept_all, gamma=accept_all, sink=accept_all) as subs, \
            running(config(tmp_path), tmp_path / "q.db", urls(subs)) as broker:
        answer = post(broker.url + "/", {"content-type": "application/cloudevents+json"},
                      json.dumps(structured).encode())
        assert (answer.status_code, answer.content) == (202, b"")
        headers, body = ce("test.a", "b1", {"y": [1, 2]}, partitionkey="pk")
        assert post(broker.address, headers, body).status_code == 202
        got = subs["alpha"].wait_for(2)
        first = got[0].headers
        assert first["ce-specversion"] == "1.0" and first["ce-id"] == "s1"
        assert first["ce-subject"] == "inc-1" and first["ce-incidentkey"] == "inc-1"
        assert first["content-type"] == "application/json"
        assert first["prefer"] == "reply" and first["kn-namespace"] == "default"
        assert "ce-knativebrokerttl" not in first
        assert json.loads(got[0].body) == {"x": 1}
        assert got[1].body == body and got[1].headers["ce-partitionkey"] == "pk"
        assert [e.data for e in broker.events("inc-1")] == [{"x": 1}]


def test_ingress_rejects_what_is_not_a_cloudevent(tmp_path: Path) -> None:
    with subscribers(alpha=accept_all, beta=accept_all, gamma=accept_all, sink=accept_all) as subs, \
            running(config(tmp_path), tmp_path / "q.db", urls(subs), max_body=1024) as broker:
        plain = post(broker.url, {"content-type": "application/json"}, b'{"a": 1}')
        assert plain.status_code == 400 and b"not a CloudEvent" in plain.content
        headers, _ = ce("test.a", "")
        assert b"missing required" in post(broker.url, headers, b"").content
        assert post(broker.url + "/other/broker", *ce("test.a", "x")).status_code == 404
        assert post(broker.url, *ce("test.a", "big", "x" * 2000)).status_code == 413
        deep = post(broker.url, ce("test.a", "deep")[0] | {"content-type": "application/json"},
                    b"[" * 401 + b"]" * 401)
        assert deep.status_code == 400 and b"deeper than 400" in deep.content
        structured = b'{"specversion":"1.0","type":"t","id":"d","source":"/t","data":' + \
            b"[" * 450 + b"]" * 450 + b"}"
        assert post(broker.url, {"content-type": "application/cloudevents+json"},
                    structured).status_code == 400
        import httpx

        with httpx.Client(trust_env=False) as client:
            assert client.get(broker.url + "/healthz").status_code == 200
        assert broker.stats()["events"] == 0


def reply_binary(req: Request) -> tuple[int, dict[str, str], bytes]:
    headers, body = ce("test.b.from-a", "r-" + req.ce_id, {"from": "a"})
    return 200, headers, body


def reply_structured(req: Request) -> tuple[int, dict[str, str], bytes]:
    doc = {"specversion": "1.0", "type": "test.b.from-c", "id": "r-" + req.ce_id,
           "source": "/gamma", "data": {"from": "c"}}
    return 200, {"Content-Type": "application/cloudevents+json"}, json.dumps(doc).encode()


def test_replies_in_both_modes_are_published_and_routed(tmp_path: Path) -> None:
    with subscribers(alpha=reply_binary, beta=accept_all, gamma=reply_structured,
                     sink=accept_all) as subs, \
            running(config(tmp_path), tmp_path / "q.db", urls(subs)) as broker:
        broker.publish(*ce("test.a", "a1"))
        broker.publish(*ce("test.c1", "c1"))
        assert broker.wait_idle(10)
        got = {r.ce_id: r for r in subs["beta"].requests}
        assert set(got) == {"r-a1", "r-c1"}
        assert json.loads(got["r-a1"].body) == {"from": "a"}
        assert json.loads(got["r-c1"].body) == {"from": "c"}
        assert got["r-c1"].headers["content-type"] == "application/json"
        replies = [e for e in broker.events() if e.origin == "reply"]
        assert sorted(e.attributes["id"] for e in replies) == ["r-a1", "r-c1"]
        assert all(e.ttl == 254 and e.parent_delivery for e in replies)


def answer(status: int, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "text/plain"} if body else {}, body


def test_non_cloudevent_body_is_a_failure_without_retry(tmp_path: Path) -> None:
    with subscribers(alpha=lambda r: answer(200, b"OK"), beta=accept_all, gamma=accept_all,
                     sink=accept_all) as subs, \
            running(config(tmp_path), tmp_path / "q.db", urls(subs)) as broker:
        broker.publish(*ce("test.a", "a1"))
        assert broker.wait_idle(10)
        assert len(subs["alpha"].requests) == 1
        (dead,) = broker.list_deadletters()
        assert dead.code == 200 and "Unable to decode response" in dead.reason
        dls = subs["sink"].requests[0].headers
        assert dls["ce-knativeerrorcode"] == "200"
        assert base64.b64decode(dls["ce-knativeerrordata"]) == b"OK"


@pytest.mark.parametrize(("status", "attempts"),
                         [(400, 1), (422, 1), (404, 4), (429, 4), (500, 4), (503, 4)])
def test_retry_only_what_knative_retries(tmp_path: Path, status: int, attempts: int) -> None:
    with subscribers(alpha=lambda r: answer(status, b"busy"), beta=accept_all, gamma=accept_all,
                     sink=accept_all) as subs, \
            running(config(tmp_path), tmp_path / "q.db", urls(subs)) as broker:
        headers, body = ce("test.a", "a1", {"k": "v"})
        broker.publish(headers, body)
        assert broker.wait_idle(10)
        tries = subs["alpha"].requests
        assert len(tries) == attempts
        if attempts > 2:
            gaps = [b.at - a.at for a, b in zip(tries, tries[1:], strict=False)]
            # Exponential backoff (20, 40, 80 ms at this time_scale): later gaps are longer.
            assert gaps[-1] > gaps[0]
        (dead,) = broker.list_deadletters()
        assert (dead.code, dead.attempts, dead.sink_state) == (status, attempts, "sent")
        assert dead.reason.startswith("retries exhausted" if attempts > 1 else "not retryable")
        (dls,) = subs["sink"].wait_for(1)
        assert dls.path == "/deadletter" and dls.body == body
        assert dls.headers["ce-id"] == "a1" and dls.headers["ce-type"] == "test.a"
        assert dls.headers["ce-knativeerrordest"] == subs["alpha"].url
        assert dls.headers["ce-knativeerrorcode"] == str(status)
        assert base64.b64decode(dls.headers["ce-knativeerrordata"]) == b"busy"


def test_network_errors_are_retried_then_dead_lettered_with_code_0(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    with subscribers(beta=accept_all, gamma=accept_all, sink=accept_all) as subs, \
            running(config(tmp_path), tmp_path / "q.db", urls(subs) | {"alpha": down}) as broker:
        broker.publish(*ce("test.a", "a1"))
        assert broker.wait_idle(10)
        (dead,) = broker.list_deadletters()
        assert dead.code is None and dead.attempts == 4
        dls = subs["sink"].requests[0].headers
        assert dls["ce-knativeerrorcode"] == "0"
        assert b"ConnectError" in base64.b64decode(dls["ce-knativeerrordata"])


def test_redeliver_a_dead_letter_with_a_fresh_budget(tmp_path: Path) -> None:
    fixed = False

    def alpha(_: Request) -> tuple[int, dict[str, str], bytes]:
        return (202, {}, b"") if fixed else answer(400, b"bad")

    with subscribers(alpha=alpha, beta=accept_all, gamma=accept_all, sink=accept_all) as subs, \
            running(config(tmp_path), tmp_path / "q.db", urls(subs)) as broker:
        broker.publish(*ce("test.a", "a1"))
        assert broker.wait_idle(10)
        (dead,) = broker.list_deadletters()
        fixed = True
        broker.redeliver_deadletter(dead.id)
        assert broker.wait_idle(10)
        assert [r.ce_id for r in subs["alpha"].requests] == ["a1", "a1"]
        (dead,) = broker.list_deadletters()
        assert dead.redeliveries == 1 and dead.redelivered_at is not None
        assert broker.stats()["done"] == 1
        with pytest.raises(KeyError):
            broker.redeliver_deadletter(999)


def test_the_same_event_twice_is_delivered_twice(tmp_path: Path) -> None:
    with subscribers(alpha=accept_all, beta=accept_all, gamma=accept_all, sink=accept_all) as subs, \
            running(config(tmp_path), tmp_path / "q.db", urls(subs)) as broker:
        for _ in range(2):
            assert post(broker.url, *ce("test.a", "same")).status_code == 202
        assert broker.wait_idle(10)
        assert [r.ce_id for r in subs["alpha"].requests] == ["same", "same"]


def test_structured_base64_data_is_delivered_as_raw_bytes(tmp_path: Path) -> None:
    doc = {"specversion": "1.0", "type": "test.a", "id": "bin", "source": "/t",
           "subject": "café", "datacontenttype": "application/octet-stream",
           "data_base64": base64.b64encode(b"\x00\x01raw").decode()}
    with subscribers(alpha=accept_all, beta=accept_all, gamma=accept_all, sink=accept_all) as subs, \
            running(config(tmp_path), tmp_path / "q.db", urls(subs)) as broker:
        broker.publish({"Content-Type": "application/cloudevents+json; charset=utf-8"},
                       json.dumps(doc).encode())
        (got,) = subs["alpha"].wait_for(1)
        assert got.body == b"\x00\x01raw"
        assert got.headers["content-type"] == "application/octet-stream"
        # HTTP headers carry ASCII only: CloudEvents' HTTP binding percent-encodes the rest.
        assert got.headers["ce-subject"] == "caf%C3%A9"
        assert broker.wait_idle(10)
