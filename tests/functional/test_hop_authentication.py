"""Every hop is authenticated: an event posted straight to a function (no broker, no producer
key) is answered 401 with nothing done and nothing recorded, for each way a forger can get it
wrong: unsigned, signed with a key nobody trusts, signed by a real function that does not
produce this type, altered after signing, or signed too long ago.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
import pytest

import orchestrator.orient.service as router_service
from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.console import audit
from orchestrator.envelope import Outgoing, to_binary
from tests import incidents as inc
from tests import keys
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.slack import FakeSlack
from tests.functional.agent_support import (
    agent_app,
)
from tests.functional.console_support import (
    ALICE,
    APPROVER,
    AUTH,
    Story,
    awaiting,
    wire,
)
from tests.functional.executor_support import (
    Harness,
    action,
    alert,
    proposal,
    ref,
)
from tests.functional.router_support import fake_api

ROOT = Path(__file__).resolve().parents[2]
Headers = dict[str, str]


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _forge(kind: str, out: Outgoing, wrong_producer: str) -> tuple[Headers, bytes]:
    """The event `out` as a forger would send it (`kind` says how it is wrong)."""
    headers, body = to_binary(out)
    if kind == "unsigned":
        return headers, body
    if kind == "rogue key":
        attrs = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
        return {**headers, **{f"ce-{k}": v for k, v in
                              keys.rogue(out.function).seal(attrs, body).items()}}, body
    if kind == "wrong producer":
        return keys.seal(headers, body, wrong_producer), body
    if kind == "altered":
        signed = keys.seal(headers, body, out.function)
        return signed, body.replace(b'"incident_key":"', b'"incident_key": "', 1)
    assert kind == "stale"
    old = {**headers, "ce-time": _z(datetime.now(UTC) - timedelta(minutes=20))}
    return keys.seal(old, body, out.function), body


KINDS = ("unsigned", "rogue key", "wrong producer", "altered", "stale")


def _refused(r: Any) -> None:
    assert r.status_code == 401, (r.status_code, r.data[:300])
    assert not any(k.lower().startswith("ce-") for k, _ in r.headers), "it replied an event"


# --- router ----------------------------------------------------------------------------------

@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Any, FakeKubeAPI]]:
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "ROUTER_KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    router_service.instance.reset()
    for api in fake_api():
        monkeypatch.setenv("KUBECONFIG", api.write_kubeconfig(str(tmp_path / "kubeconfig")))
        app = functions_framework.create_app(
            target="handle", source=str(ROOT / "functions/router/main.py"),
            signature_type="http")
        yield app.test_client(), api
        router_service.instance.reset()


def _alert_received() -> Outgoing:
    from orchestrator.ingest.core import alert_event

    return alert_event(inc.recorded_alert())


@pytest.mark.parametrize("kind", KINDS)
def test_the_router_reads_nothing_for_a_forged_alert(router: tuple[Any, FakeKubeAPI],
                                                     kind: str) -> None:
    client, api = router
    headers, body = _forge(kind, _alert_received(), "agent")
    _refused(client.post("/", data=body, headers=headers))
    assert api.requests == []  # not one read: the context would leak logs and events


def test_the_router_answers_the_same_alert_signed_by_ingest(
        router: tuple[Any, FakeKubeAPI]) -> None:
    client, api = router
    headers, body = keys.signer("ingest").encode(_alert_received())
    r = client.post("/", data=body, headers=headers)
    assert r.status_code == 200 and r.headers["ce-signerkey"].startswith("router/"), r.data
    assert api.requests != []


# --- agent -----------------------------------------------------------------------------------

def _enriched() -> Outgoing:
    data = inc.crashloop()
    return Outgoing(type="incident.context.enriched", id="router-1", function="router",
                    incident_key=data.incident_key, data=data)


@pytest.mark.parametrize("kind", KINDS)
def test_the_agent_plans_nothing_for_a_forged_context(monkeypatch: pytest.MonkeyPatch,
                                                      qdrant: Path, tmp_path: Path,
                                                      kind: str) -> None:
    headers, body = _forge(kind, _enriched(), "ingest")
    with agent_app(monkeypatch, qdrant=qdrant, audit=tmp_path / "audit") as a:
        r = a.client.post("/", data=body, headers=headers)
    _refused(r)
    audit_dir = tmp_path / "audit"
    assert not audit_dir.exists() or not any(p.is_file() for p in audit_dir.rglob("*"))


# --- executor --------------------------------------------------------------------------------

def _restart(h: Harness) -> Outgoing:
    from tests.fakes import kube_objects as ko

    sc = ko.crashlooping_deployment().load(h.api)
    p = proposal(alert({"namespace": "shop", "pod": sc["pod"]["metadata"]["name"]}),
                 action("rollout_restart", ref("Deployment", "checkout", "shop")))
    return Outgoing(type="incident.plan.proposed", id="agent-1", function="agent",
                    incident_key=p.incident_key, data=p, partition_key="shop/Deployment/checkout")


@pytest.mark.parametrize("kind", KINDS)
def test_the_executor_touches_nothing_for_a_forged_proposal(harness: Harness,
                                                            kind: str) -> None:
    """Enforce mode, a restart the policy runs without a human: only the sender is wrong."""
    out = _restart(harness)
    harness.api.clear_requests()
    headers, body = _forge(kind, out, "router")
    _refused(harness.client.post("/", data=body, headers=headers))
    assert harness.api.requests == []  # no read, no dry run, no write, no Event


def test_the_same_proposal_signed_by_the_agent_restarts(harness: Harness) -> None:
    out = _restart(harness)
    headers, body = keys.signer("agent").encode(out)
    r = harness.client.post("/", data=body, headers=headers)
    assert r.status_code == 200 and r.headers["ce-type"] == "incident.action.completed", r.data
    assert [q.method for q in harness.workload_writes()] == ["PATCH"]


def test_a_replayed_old_proposal_is_refused_whatever_the_budget(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with a freshness window wide enough to let it through the door, a proposal the
    agent signed long ago (months, here) is past its own TTL and never acted on."""
    from tests.functional.executor_support import reset_service

    monkeypatch.setenv("EXECUTOR_EVENT_MAX_AGE_SECONDS", str(365 * 86400))
    reset_service()
    out = _restart(harness)
    headers, body = to_binary(out)
    months_ago = {**headers, "ce-time": _z(datetime.now(UTC) - timedelta(days=90))}
    r = harness.client.post("/", data=body, headers=keys.seal(months_ago, body, "agent"))
    assert r.status_code == 200 and r.headers["ce-type"] == "incident.escalated", r.data
    assert "expired" in r.get_json()["detail"]
    assert harness.workload_writes() == []


# --- console ---------------------------------------------------------------------------------

@pytest.fixture
def console(console_for: Callable[..., Any], chat: FakeSlack) -> Any:
    return console_for(CONSOLE_WEBHOOK_URL=chat.generic, CONSOLE_EVENT_MAX_AGE_SECONDS="900")


def _records(tmp_path: Path, key: str) -> list[str]:
    return [r.type for r in audit.read(LocalDirStore(tmp_path / "audit"), key)]


FORGED: dict[str, Callable[[Story], Outgoing]] = {
    "resolved": lambda s: s.resolved(), "escalated": lambda s: s.escalated(),
    "plan.proposed": lambda s: s.plan_proposed(),
    "approval.requested": lambda s: s.approval_requested()}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("what", FORGED)
def test_the_console_records_nothing_forged(console: Any, tmp_path: Path, chat: FakeSlack,
                                            kind: str, what: str) -> None:
    story = Story()
    out = FORGED[what](story)
    headers, body = _forge(kind, out, "ingest")
    _refused(console.post("/events", data=body, headers=headers))
    assert _records(tmp_path, story.key) == []
    assert chat.to("/generic/") == []  # nobody paged with a forger's text


@pytest.mark.parametrize("kind", ("unsigned", "rogue key", "wrong producer"))
def test_a_forged_resolved_or_escalated_cancels_no_approval(console: Any, tmp_path: Path,
                                                            chat: FakeSlack, kind: str) -> None:
    story = Story()
    awaiting(console, story)
    before = len(chat.to("/generic/"))
    for out in (story.resolved(), story.escalated()):
        headers, body = _forge(kind, out, "ingest")
        _refused(console.post("/events", data=body, headers=headers))
    assert len(chat.to("/generic/")) == before
    pending = console.get("/api/approvals", headers=AUTH).get_json()["approvals"]
    assert [p["plan_id"] for p in pending] == [story.plan.plan_id]
    r = console.post(f"/api/approvals/{story.plan.plan_id}/approve",
                     json={"approver": APPROVER}, headers=ALICE)
    assert r.status_code == 202, r.data


def test_the_genuine_resolved_does_cancel_it(console: Any) -> None:
    """The same event signed by the router does what the forged one could not."""
    story = Story()
    awaiting(console, story)
    headers, body = wire(story.resolved())
    assert console.post("/events", data=body, headers=headers).status_code == 202
    r = console.post(f"/api/approvals/{story.plan.plan_id}/approve",
                     json={"approver": APPROVER}, headers=ALICE)
    assert r.status_code == 409
