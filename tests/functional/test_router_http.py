"""The router through its real functions-framework app: CloudEvents in, one reply CloudEvent out,
with the cluster found the way a deployed router finds it (here: a kubeconfig, or nothing)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest

import orchestrator.orient.service as service
from orchestrator.envelope import to_binary
from orchestrator.events import (
    ALERT_RECEIVED,
    CONTEXT_ENRICHED,
    RESOLVED,
    ContextEnriched,
    Resolved,
)
from orchestrator.ids import event_id
from orchestrator.ingest.alertmanager import parse_webhook
from orchestrator.ingest.core import alert_event
from tests import keys
from tests.conftest import load_event
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.functional.router_support import fake_api, with_nodes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    yield from fake_api()


@pytest.fixture(autouse=True)
def _fresh_router(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in ("KUBECONFIG", "ROUTER_KUBECONFIG", "KUBERNETES_SERVICE_HOST",
                 "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.kube/config
    service.instance.reset()
    yield
    service.instance.reset()


def _client() -> Any:
    app = functions_framework.create_app(
        target="handle", source=str(ROOT / "functions/router/main.py"), signature_type="http")
    return app.test_client()


def _alert_events(payload: str) -> list[Any]:
    return [alert_event(a, receiver="x") for a in parse_webhook(load_event(payload)).alerts]


def _post(client: Any, out: Any) -> Any:
    """POST an event as the broker delivers it, signed by its producer."""
    headers, body = keys.signer(out.function).encode(out)
    return client.post("/", data=body, headers=headers)


def _crashloop_cluster(api: FakeKubeAPI) -> None:
    """The recorded payload's pod (payments/checkout-7d9f8b6c5-x2k4q), crash-looping."""
    d = ko.deployment("checkout", "payments", containers=[ko.container("checkout")])
    rs = ko.replicaset(d)
    pod = ko.pod_for(rs, 0, statuses=[ko.container_status(
        "checkout", state="waiting", reason="CrashLoopBackOff", restart_count=4,
        last_reason="Error")])
    pod["metadata"]["name"] = "checkout-7d9f8b6c5-x2k4q"
    api.add_all([d, rs, pod])
    with_nodes(api)
    api.set_logs("payments", pod["metadata"]["name"], "checkout", "panic: boom\n", previous=True)


def test_firing_alert_gets_its_context_in_one_binary_cloudevent(
        api: FakeKubeAPI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _crashloop_cluster(api)
    monkeypatch.setenv("KUBECONFIG", api.write_kubeconfig(str(tmp_path / "kubeconfig")))
    (incoming,) = _alert_events("alertmanager_crashloop")
    r = _post(_client(), incoming)
    assert r.status_code == 200, r.data
    h = {k.lower(): v for k, v in r.headers.items()}
    key = incoming.incident_key
    assert h["ce-type"] == CONTEXT_ENRICHED and h["ce-source"] == "/orchestrator/router"
    assert h["ce-id"] == event_id(key, "router", incoming.id)
    assert h["ce-incidentkey"] == key and h["ce-partitionkey"] == "9a3cf2d1b7e04c55"
    data = ContextEnriched.model_validate(json.loads(r.data))
    ctx = data.context
    assert ctx.available and ctx.source == "kubeconfig" and ctx.cluster == "prod-eu-west-1"
    assert data.alert.labels["cluster"] == "prod-eu-west-1" and not data.test
    assert ctx.target is not None and ctx.target.name == "checkout-7d9f8b6c5-x2k4q"
    assert [o.kind for o in ctx.owners] == ["ReplicaSet", "Deployment"]
    assert ctx.logs[0].lines == ["panic: boom"]
    # Redelivered: same reply id, built from the cluster again.
    again = _post(_client(), incoming)
    assert {k.lower(): v for k, v in again.headers.items()}["ce-id"] == h["ce-id"]


def test_resolved_alert_is_answered_without_reading_the_cluster(
        api: FakeKubeAPI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", api.write_kubeconfig(str(tmp_path / "kubeconfig")))
    (incoming,) = _alert_events("alertmanager_crashloop_resolved")
    r = _post(_client(), incoming)
    assert r.status_code == 200
    assert {k.lower(): v for k, v in r.headers.items()}["ce-type"] == RESOLVED
    data = Resolved.model_validate(json.loads(r.data))
    assert data.how == "alert-resolved" and data.alert is not None
    assert api.requests == []


def test_without_a_cluster_the_labels_are_the_context(caplog: pytest.LogCaptureFixture) -> None:
    (incoming,) = _alert_events("alertmanager_crashloop")
    test_event = dataclasses.replace(incoming, data=incoming.data.model_copy(
        update={"test": True}))
    r = _post(_client(), test_event)
    assert r.status_code == 200, r.data
    data = ContextEnriched.model_validate(json.loads(r.data))
    ctx = data.context
    assert (ctx.available, ctx.source, ctx.cluster) == (False, "none", "prod-eu-west-1")
    assert ctx.target is not None and (ctx.target.kind, ctx.target.name, ctx.target.namespace) \
        == ("Pod", "checkout-7d9f8b6c5-x2k4q", "payments")
    assert ctx.pods == [] and ctx.errors == [] and data.test is True


def test_api_down_answers_503_so_the_broker_retries(
        api: FakeKubeAPI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", api.write_kubeconfig(str(tmp_path / "kubeconfig")))
    monkeypatch.setenv("ROUTER_REQUEST_TIMEOUT_SECONDS", "2")
    api.down()
    (incoming,) = _alert_events("alertmanager_crashloop")
    r = _post(_client(), incoming)
    assert r.status_code == 503
    assert "unreachable" in r.get_json()["error"]


def test_bad_input_is_a_4xx() -> None:
    (incoming,) = _alert_events("alertmanager_crashloop")
    client = _client()
    headers, _ = to_binary(incoming)
    r = client.post("/", data=b'{"incident_key": 3}',
                    headers=keys.seal(headers, b'{"incident_key": 3}'))
    assert r.status_code == 400
    other = {**headers, "ce-type": "incident.plan.proposed"}
    r = client.post("/", data=json.dumps(incoming.data.model_dump(mode="json")), headers=other)
    assert r.status_code == 400 and "does not handle" in r.get_json()["error"]
    assert headers["ce-type"] == ALERT_RECEIVED
