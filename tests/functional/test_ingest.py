"""Ingest through its real functions-framework app, POSTing to a real HTTP broker stand-in."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import functions_framework
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

import orchestrator.ingest.service as service
from orchestrator.events import ALERT_RECEIVED, AlertReceived
from tests.conftest import load_event
from tests.fakes.sink import Sink, running_sink

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cr3t-ingest-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}



@pytest.fixture(autouse=True)
def _close_ingest(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield
    service.instance.reset()


@pytest.fixture
def client(sink: Sink, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("INGEST_TOKEN", TOKEN)
    monkeypatch.setenv("K_SINK", sink.url)
    _reset(monkeypatch)
    app = functions_framework.create_app(
        target="handle", source=str(ROOT / "functions/ingest/main.py"), signature_type="http"
    )
    return app.test_client()


def _reset(monkeypatch: pytest.MonkeyPatch) -> None:
    service.instance.reset()


def _post(client, payload, headers=AUTH):  # type: ignore[no-untyped-def]
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post("/", data=body, headers={"Content-Type": "application/json", **headers})


def test_firing_alert_becomes_one_binary_cloudevent(client, sink) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, load_event("alertmanager_crashloop"))
    assert r.status_code == 200, r.data
    (got,) = sink.wait_for(1)
    h = {k.lower(): v for k, v in got.headers.items()}
    assert h["ce-type"] == ALERT_RECEIVED
    assert h["ce-source"] == "/orchestrator/ingest"
    assert h["ce-partitionkey"] == "9a3cf2d1b7e04c55"
    assert h["ce-incidentkey"] == "prod-eu-west-1-9a3cf2d1b7e04c55-20261120T091403Z"
    assert h["ce-subject"] == h["ce-incidentkey"]
    data = AlertReceived.model_validate(got.json())
    assert data.alert.labels["pod"] == "checkout-7d9f8b6c5-x2k4q"
    assert data.alert.status == "firing"
    assert data.alert.source == "http://alertmanager.monitoring:9093"


def test_retried_webhook_gives_the_same_ids_and_resolved_the_same_incident(client, sink) -> None:  # type: ignore[no-untyped-def]
    _post(client, load_event("alertmanager_crashloop"))
    _post(client, load_event("alertmanager_crashloop"))
    _post(client, load_event("alertmanager_crashloop_resolved"))
    a, b, c = (dict((k.lower(), v) for k, v in r.headers.items()) for r in sink.wait_for(3))
    assert a["ce-id"] == b["ce-id"]
    assert c["ce-id"] != a["ce-id"]
    assert c["ce-incidentkey"] == a["ce-incidentkey"]
    assert AlertReceived.model_validate(sink.received[2].json()).alert.status == "resolved"


def test_newer_alertmanager_fields_are_tolerated(client, sink) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, load_event("alertmanager_newer_fields"))
    assert r.status_code == 200, r.data
    assert len(sink.wait_for(1)) == 1


def test_alerts_alertmanager_truncated_are_reported_not_hidden(client, sink, caplog) -> None:  # type: ignore[no-untyped-def]
    """Alertmanager's max_alerts cut alerts off before sending (`truncatedAlerts`): they never
    reach ingest, so its answer and its log say how many, for the operator to raise the cap."""
    payload = load_event("alertmanager_crashloop")
    payload["truncatedAlerts"] = 3
    with caplog.at_level(logging.WARNING, logger="orchestrator.ingest"):
        r = _post(client, payload)
    assert r.status_code == 200, r.data
    assert r.get_json()["truncated"] == 3
    assert any("left 3 alerts" in m and "max_alerts" in m for m in caplog.messages)
    assert len(sink.wait_for(1)) == 1
    r = _post(client, load_event("alertmanager_crashloop"))
    assert "truncated" not in r.get_json()
    r = _post(client, {**payload, "truncatedAlerts": -3})
    assert r.status_code == 400 and b"truncatedAlerts" in r.data, r.data


def test_one_bad_alert_does_not_sink_the_batch(client, sink) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, load_event("alertmanager_batch_one_bad"))
    assert r.status_code == 207
    body = r.get_json()
    assert body["accepted"] == 2
    assert body["rejected"] == [{"index": 1, "error": "labels.restarts must be a string, got int"}]
    pods = {AlertReceived.model_validate(x.json()).alert.labels["pod"] for x in sink.wait_for(2)}
    assert pods == {"checkout-7d9f8b6c5-x2k4q", "checkout-7d9f8b6c5-p8m2z"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "body is not JSON"),
        (b"[1, 2]", 400, "webhook body must be a JSON object, got list"),
        (json.dumps({"version": "3", "alerts": []}).encode(), 400,
         "unsupported webhook version '3': expected \"4\""),
        (json.dumps({"version": "4"}).encode(), 400, "alerts is required"),
        (json.dumps({"version": "4", "alerts": {}}).encode(), 400,
         "alerts must be a list, got object"),
        (json.dumps({"version": "4", "alerts": []}).encode(), 400, "webhook has no alerts"),
        (json.dumps({"version": "4", "status": 3, "alerts": []}).encode(), 400,
         "status must be a string, got int"),
        (json.dumps({"version": "4", "alerts": [{"status": "firing", "labels": {}}]}).encode(),
         400, "alert 0: alert has no 'alertname' label"),
        (json.dumps({"version": "4", "alerts": [{"status": "firing",
         "labels": {"alertname": "X"}, "startsAt": "yesterday"}]}).encode(), 400,
         "startsAt is not an RFC 3339 time"),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_problem(client, sink, body, status, message) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, body)
    assert r.status_code == status
    assert message in r.get_json()["error"]
    assert sink.received == []


def test_oversized_body_is_refused(client, sink, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("INGEST_MAX_BODY_BYTES", "2048")
    _reset(monkeypatch)
    payload = load_event("alertmanager_crashloop")
    payload["alerts"][0]["annotations"]["description"] = "x" * 4096
    r = _post(client, payload)
    assert r.status_code == 413
    assert "2048 bytes" in r.get_json()["error"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
def test_webhook_needs_the_bearer_token(client, sink, headers) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, load_event("alertmanager_crashloop"), headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert sink.received == []


def test_token_from_a_mounted_secret_file(client, sink, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "token").write_text("from-file\n")
    monkeypatch.delenv("INGEST_TOKEN")
    monkeypatch.setenv("INGEST_TOKEN_FILE", str(tmp_path / "token"))
    _reset(monkeypatch)
    ok = _post(client, load_event("alertmanager_crashloop"), {"Authorization": "Bearer from-file"})
    assert ok.status_code == 200
    assert _post(client, load_event("alertmanager_crashloop")).status_code == 401


def test_auth_off_only_when_asked_and_it_warns(client, sink, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("INGEST_TOKEN")
    _reset(monkeypatch)
    assert _post(client, load_event("alertmanager_crashloop"), {}).status_code == 401
    monkeypatch.setenv("INGEST_AUTH_DISABLED", "true")
    _reset(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert _post(client, load_event("alertmanager_crashloop"), {}).status_code == 200
    assert "unauthenticated" in caplog.text


def test_health_needs_no_token(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/healthz")
    assert r.status_code == 200


def _manual(data: dict, event_type: str = "incident.alert.manual") -> CloudEvent:  # type: ignore[type-arg]
    return CloudEvent({"type": event_type, "source": "/boson/fn", "id": "a1b2"}, data)


@pytest.mark.parametrize("mode", [to_binary, to_structured])
def test_manual_trigger_as_kn_func_invoke_sends_it(client, sink, mode) -> None:  # type: ignore[no-untyped-def]
    data = {"token": TOKEN, "labels": {"alertname": "KubePodCrashLooping",
                                       "namespace": "payments", "pod": "checkout-1"}}
    headers, body = mode(_manual(data))
    r = client.post("/", data=body, headers=headers)
    assert r.status_code == 200, r.data
    (got,) = sink.wait_for(1)
    sent = AlertReceived.model_validate(got.json())
    assert sent.manual is True
    assert sent.alert.labels["pod"] == "checkout-1"
    assert TOKEN.encode() not in got.body


def test_kn_func_invoke_default_event_is_told_what_to_send(client, sink) -> None:  # type: ignore[no-untyped-def]
    headers, body = to_binary(_manual({"message": "Hello World"}, "boson.fn"))
    r = client.post("/", data=body, headers=headers)
    assert r.status_code == 401, "authentication comes before validation"
    assert '"token"' in r.get_json()["error"] and "incident.alert.manual" in r.get_json()["error"]
    r = client.post("/", data=body, headers={**headers, **AUTH})
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert "'boson.fn'" in error and "incident.alert.manual" in error and '"labels"' in error


@pytest.mark.parametrize(("data", "message"), [
    ({"colour": "red"}, "unexpected field 'data.colour'"),
    ({"labels": None}, "data.labels must be an object, got null"),
    ({"labels": {"alertname": "X", "restarts": 5}}, "data.labels.restarts must be a string, got int"),
    ({"test": "yes"}, "data.test must be a boolean, got string"),
    ({"status": "open"}, "data.status must be 'firing' or 'resolved', got 'open'"),
    ({"startsAt": "soon"}, "data.startsAt is not an RFC 3339 time"),
    ({"labels": {"namespace": "shop"}}, "alert has no 'alertname' label"),
])
def test_manual_trigger_data_is_validated_naming_the_field(client, sink, data, message) -> None:  # type: ignore[no-untyped-def]
    given = {"labels": {"alertname": "X"}, "token": TOKEN, **data}
    headers, body = to_binary(_manual(given))
    r = client.post("/", data=body, headers=headers)
    assert r.status_code == 400, r.data
    assert message in r.get_json()["error"] and "incident.alert.manual" in r.get_json()["error"]
    headers, body = to_binary(_manual({k: v for k, v in given.items() if k != "labels"}))
    assert "data.labels is required" in client.post("/", data=body, headers=headers).get_json()[
        "error"]
    assert sink.received == []


def test_manual_trigger_without_token_is_refused(client, sink) -> None:  # type: ignore[no-untyped-def]
    headers, body = to_binary(_manual({"labels": {"alertname": "X"}}))
    assert client.post("/", data=body, headers=headers).status_code == 401
    headers, body = to_binary(_manual({"labels": {"alertname": "X"}, "token": "nope"}))
    assert client.post("/", data=body, headers=headers).status_code == 401
    assert sink.received == []


def test_broker_down_means_5xx_and_the_retry_yields_the_same_ids(client, sink) -> None:  # type: ignore[no-untyped-def]
    sink.respond_with(500)
    r = _post(client, load_event("alertmanager_crashloop"))
    assert r.status_code == 502
    assert "HTTP 500" in r.get_json()["error"]
    r = _post(client, load_event("alertmanager_crashloop"))
    assert r.status_code == 200
    _post(client, load_event("alertmanager_crashloop"))
    first, second = sink.wait_for(2)
    assert first.headers["ce-id"] == second.headers["ce-id"]


def test_broker_unreachable_means_503(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with running_sink() as gone:
        url = gone.url
    monkeypatch.setenv("INGEST_TOKEN", TOKEN)
    monkeypatch.setenv("K_SINK", url)
    _reset(monkeypatch)
    app = functions_framework.create_app(
        target="handle", source=str(ROOT / "functions/ingest/main.py"), signature_type="http"
    )
    r = _post(app.test_client(), load_event("alertmanager_crashloop"))
    assert r.status_code == 503
    assert "broker unreachable" in r.get_json()["error"]


def test_secrets_in_labels_are_redacted_and_identity_kept(client, sink) -> None:  # type: ignore[no-untyped-def]
    payload = load_event("alertmanager_crashloop")
    plain = {k: v for k, v in payload["alerts"][0]["labels"].items() if k != "instance"}
    payload["alerts"][0]["labels"].update(
        instance="https://svc:CanaryLabelPw0rd@db.payments.svc:5432/orders",
        db_password="CanaryLabelDbPass", secret="db-credentials")
    r = _post(client, payload)
    assert r.status_code == 200, r.data
    (got,) = sink.wait_for(1)
    assert b"CanaryLabelPw0rd" not in got.body and b"CanaryLabelDbPass" not in got.body
    labels = AlertReceived.model_validate(got.json()).alert.labels
    assert labels["instance"] == "https://svc:[REDACTED:url-password]@db.payments.svc:5432/orders"
    assert labels["db_password"] == "[REDACTED:secret-value]"
    assert {k: labels[k] for k in plain} == plain, "the identifying labels are as sent"
    assert labels["secret"] == "db-credentials", "a Secret's name identifies it"
