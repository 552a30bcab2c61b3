"""The dead-letter sink and the sweep: dead letters kept with their knativeerror* attributes,
shown and re-sent; stale approvals expired, stuck incidents escalated, nothing twice."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.events import ESCALATED, Escalated
from tests.fakes.slack import FakeSlack
from tests.functional.console_support import AUTH, Story, deliver, wire


@pytest.fixture
def client(console_for: Callable[..., Any], chat: FakeSlack) -> Any:
    return console_for(CONSOLE_SLACK_WEBHOOK_URL=chat.webhook, CONSOLE_STALE_AFTER_SECONDS="600")


def dead(out: Any, *, code: str = "500", error: bytes = b"boom: router crashed") -> tuple[
        dict[str, str], bytes]:
    headers, body = wire(out)
    headers.update({"ce-knativeerrordest": "http://router.default.svc/",
                    "ce-knativeerrorcode": code,
                    "ce-knativeerrordata": base64.b64encode(error).decode()})
    return headers, body


def test_dead_letters_are_kept_shown_and_resent(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    headers, body = dead(story.context_enriched())
    assert client.post("/deadletter", data=body, headers=headers).status_code == 202
    assert client.post("/deadletter", data=body, headers=headers).status_code == 202
    page = client.get("/api/deadletters", headers=AUTH).get_json()
    (letter,) = page["deadletters"]
    assert page["next"] is None
    assert letter["type"] == "incident.context.enriched" and letter["code"] == "500"
    assert letter["error"] == "boom: router crashed"
    assert letter["dest"] == "http://router.default.svc/" and letter["incident_key"] == story.key
    assert "data" not in letter and letter["data_bytes"] == len(body), "a summary, not the letter"
    full = client.get(f"/api/deadletters/{letter['id']}", headers=AUTH).get_json()
    assert full["data"]["context"]["target"]["name"] == "checkout-7d9f8b6c5-x2k4q"
    r = client.post(f"/api/deadletters/{letter['id']}/resend", headers=AUTH)
    assert r.status_code == 202 and len(r.get_json()["resent"]) == 1
    (sent,) = sink.wait_for(1)
    assert sent.body == body
    assert sent.headers["ce-id"] == headers["ce-id"]
    assert not any(k.lower().startswith("ce-knativeerror") for k in sent.headers)
    assert client.post("/api/deadletters/nope/resend", headers=AUTH).status_code == 404
    assert client.get("/api/deadletters").status_code == 401


def test_the_pages_link_to_a_dead_letter_serves_the_apis_document(client) -> None:  # type: ignore[no-untyped-def]
    headers, body = dead(Story().context_enriched())
    assert client.post("/deadletter", data=body, headers=headers).status_code == 202
    (letter,) = client.get("/api/deadletters", headers=AUTH).get_json()["deadletters"]
    page = client.get(f"/deadletters/{letter['id']}", headers=AUTH)
    assert page.status_code == 200 and page.get_json() == client.get(
        f"/api/deadletters/{letter['id']}", headers=AUTH).get_json()
    assert page.get_json()["data"]["context"]["target"]["name"] == "checkout-7d9f8b6c5-x2k4q"
    assert client.get(f"/deadletters/{letter['id']}").status_code == 303  # to the login


def test_any_event_is_kept_even_without_json_data(client) -> None:  # type: ignore[no-untyped-def]
    headers = {"ce-specversion": "1.0", "ce-type": "com.example.other", "ce-id": "e-1",
               "ce-source": "/elsewhere", "content-type": "text/plain",
               "ce-knativeerrorcode": "0", "ce-knativeerrordest": "http://x/"}
    assert client.post("/deadletter", data=b"\xffnot json", headers=headers).status_code == 202
    structured = {"specversion": "1.0", "type": "incident.plan.proposed", "id": "e-2",
                  "source": "/orchestrator/agent", "data": {"a": 1},
                  "knativeerrorcode": "404", "knativeerrordest": "http://executor/"}
    r = client.post("/deadletter", data=json.dumps(structured),
                    headers={"content-type": "application/cloudevents+json"})
    assert r.status_code == 202
    letters = client.get("/api/deadletters", headers=AUTH).get_json()["deadletters"]
    assert sorted(d["event_id"] for d in letters) == ["e-1", "e-2"]
    data = {d["event_id"]: client.get(f"/api/deadletters/{d['id']}", headers=AUTH).get_json()[
        "data"] for d in letters}
    assert data == {"e-1": "\ufffdnot json", "e-2": {"a": 1}}
    assert client.post("/deadletter", data=b"{}", headers={"content-type": "application/json"}
                       ).status_code == 400


def test_the_sink_keeps_what_a_strict_reader_refuses_and_resends_it_encoded(  # type: ignore[no-untyped-def]
        client, sink) -> None:
    # An old specversion, deep JSON data and a header value that is not UTF-8: each would be a
    # 400 at a function, and a 400 at the sink loses the letter for good.
    headers = {"ce-specversion": "0.3", "ce-type": "com.example.old", "ce-id": "e-3",
               "ce-source": "/elsewhere", "ce-note": "50%25 done%FF", "ce-who": "J%C3%A9r%C3%B4me",
               "content-type": "application/json", "ce-knativeerrordest": "http://x/"}
    deep = b"[" * 500 + b"]" * 500
    assert client.post("/deadletter", data=deep, headers=headers).status_code == 202
    (letter,) = client.get("/api/deadletters", headers=AUTH).get_json()["deadletters"]
    full = client.get(f"/api/deadletters/{letter['id']}", headers=AUTH).get_json()
    assert full["attributes"]["who"] == "Jérôme" and full["attributes"]["note"] == "50%25 done%FF"
    assert client.post(f"/api/deadletters/{letter['id']}/resend", headers=AUTH).status_code == 202
    (sent,) = sink.wait_for(1)
    assert sent.body == deep
    assert sent.headers["ce-who"] == "J%C3%A9r%C3%B4me"
    assert sent.headers["ce-note"] == "50%2525%20done%25FF"


def letter_headers(n: int) -> dict[str, str]:
    return {"ce-specversion": "1.0", "ce-type": "com.example.big", "ce-id": f"big-{n}",
            "ce-source": "/elsewhere", "content-type": "application/octet-stream",
            "ce-knativeerrorcode": "500", "ce-knativeerrordest": "http://x/"}


def test_a_big_letter_is_kept_as_a_preview_and_not_resent(client, tmp_path, sink) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * 4096  # 1 MiB: the body limit, four times the data cap
    assert client.post("/deadletter", data=data, headers=letter_headers(1)).status_code == 202
    (letter,) = client.get("/api/deadletters", headers=AUTH).get_json()["deadletters"]
    assert letter["truncated"] is True and letter["data_bytes"] == len(data)
    stored = sum(p.stat().st_size for p in (tmp_path / "audit").rglob("*") if p.is_file())
    assert stored < 16 * 1024, "a preview and a summary, not the megabyte"
    r = client.post(f"/api/deadletters/{letter['id']}/resend", headers=AUTH)
    assert r.status_code == 409 and "cannot be re-sent" in r.get_json()["error"]
    assert sink.received == []
    assert client.post("/deadletter", data=data + b"x", headers=letter_headers(2)
                       ).status_code == 413


def test_letters_are_listed_a_page_at_a_time_newest_first(client) -> None:  # type: ignore[no-untyped-def]
    for n in range(7):
        r = client.post("/deadletter", data=b"{}", headers=letter_headers(n))
        assert r.status_code == 202
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(4):
        query = {"limit": "3", **({"before": cursor} if cursor else {})}
        page = client.get("/api/deadletters", headers=AUTH, query_string=query).get_json()
        assert len(page["deadletters"]) <= 3
        seen += [d["event_id"] for d in page["deadletters"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [f"big-{n}" for n in reversed(range(7))]
    web = client.get("/deadletters", headers=AUTH)
    assert web.status_code == 200 and b"big-6" in web.data


def test_letters_kept_before_summaries_are_listed_and_deep_data_is_shown_as_text(
        client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old = {"id": "0123456789abcdef01234567", "received_at": "2026-11-01T10:00:00+00:00",
           "attributes": {"id": "old-1", "type": "incident.plan.proposed", "source": "/a",
                          "knativeerrorcode": "503"},
           "data_base64": base64.b64encode(b'{"x": 1}').decode(), "resent": []}
    letters = tmp_path / "audit" / "deadletters"
    letters.mkdir(parents=True, exist_ok=True)
    (letters / f"{old['id']}.json").write_text(json.dumps(old))
    deep = {**letter_headers(9), "content-type": "application/json"}
    assert client.post("/deadletter", data=b"[" * 50_000 + b"]" * 50_000, headers=deep
                       ).status_code == 202
    listed = client.get("/api/deadletters", headers=AUTH).get_json()["deadletters"]
    assert [d["event_id"] for d in listed] == ["big-9", "old-1"]
    shown = {d["event_id"]: client.get(f"/api/deadletters/{d['id']}", headers=AUTH)
             for d in listed}
    assert shown["old-1"].get_json()["data"] == {"x": 1}
    assert shown["big-9"].status_code == 200
    assert shown["big-9"].get_json()["data"] == "[" * 50_000 + "]" * 50_000, "text, unparsed"


def sweep(client: Any) -> Any:
    return client.post("/sweep", headers=AUTH)


def test_sweep_expires_stale_approvals_once(client, sink, chat) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    asked = datetime.now(UTC) - timedelta(minutes=16)
    for out in (story.alert_received(), story.plan_proposed(),
                story.approval_requested(requested_at=asked)):
        deliver(client, out, asked)
    assert client.post("/sweep").status_code == 401
    report = sweep(client).get_json()
    assert report["expired"] == [story.plan.plan_id] and report["stale"] == []
    (sent,) = sink.wait_for(1)
    assert sent.headers["ce-type"] == ESCALATED
    escalation = Escalated.model_validate(sent.json())
    assert (escalation.reason, escalation.stage) == ("approval-expired", "console")
    assert escalation.plan_id == story.plan.plan_id
    assert "expired" in str(chat.to("/services/")[-1].body)
    # The broker hands the escalation back; a second sweep finds nothing to do.
    headers = {k: v for k, v in sent.headers.items()}
    assert client.post("/events", data=sent.body, headers=headers).status_code == 202
    assert sweep(client).get_json()["expired"] == []
    assert len(sink.received) == 1


def test_sweep_escalates_stuck_incidents_and_leaves_fresh_ones(client, sink) -> None:  # type: ignore[no-untyped-def]
    stuck, fresh, done = Story(fingerprint="1" * 16), Story(fingerprint="2" * 16), \
        Story(fingerprint="3" * 16)
    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    deliver(client, stuck.alert_received(), long_ago)
    deliver(client, stuck.context_enriched(), long_ago + timedelta(seconds=1))
    deliver(client, fresh.alert_received())
    deliver(client, done.alert_received(), long_ago)
    deliver(client, done.resolved(), long_ago)
    report = sweep(client).get_json()
    assert report["stale"] == [stuck.key] and report["checked"] == 2
    (sent,) = sink.wait_for(1)
    escalation = Escalated.model_validate(sent.json())
    assert escalation.reason == "stale" and escalation.alert == stuck.alert
    # Swept again before the escalation came back: the same event id, nothing new.
    sweep(client)
    a, b = sink.wait_for(2)
    assert a.headers["ce-id"] == b.headers["ce-id"]


def test_an_unreadable_object_hides_no_other_letter_or_record(tmp_path: Path) -> None:
    from orchestrator.adapters.object_store import LocalDirStore
    from orchestrator.console import audit, deadletters

    store = LocalDirStore(tmp_path / "audit")
    deadletters.store_letter(store, letter_headers(1), b"x", now=datetime.now(UTC))
    store.put("deadletter-index/20990101T000000.000000Z-aaa.json", b"not json")
    store.put("deadletter-index/20990101T000001.000000Z-bbb.json", b"[1]")
    store.put("deadletter-index/20990101T000002.000000Z-ccc.json", b'{"no": "id"}')
    assert [d["event_id"] for d in deadletters.list_letters(store).letters] == ["big-1"]
    good = {"id": "e1", "type": "incident.resolved", "incidentkey": "k1", "time": "t"}
    store.put("incidents/k1/1-e1.json", json.dumps(good).encode())
    store.put("incidents/k1/2-e2.json", b'{"id": "e2"}')
    store.put("incidents/k1/3-e3.json", b"\xff")
    assert [r.id for r in audit.read(store, "k1")] == ["e1"]
