"""What a credential cannot protect, the protocol does, through the real stack: a forged
`incident.plan.approved` or `incident.plan.proposed` posted straight to the broker (or to the
executor itself) is escalated and writes nothing; a genuine approval replayed after it was acted
on writes nothing either. `/deadletter` and `/events` take no credential: only the broker may
reach them (cluster-local on Knative); what is posted there is kept and shown, never acted on
without an authenticated call.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest

from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.console import audit
from orchestrator.ids import event_id
from tests.functional.auth_support import (
    APP,
    NS,
    Env,
)


@pytest.mark.slow
def test_a_dead_letter_from_anyone_is_kept_never_acted_on(env: Env) -> None:
    """`/deadletter` has no credential (on Knative only the broker reaches it: the console is
    cluster-local unless exposed): what arrives is stored and listed; re-sending it needs the
    API token."""
    before = env.count()
    url = env.stack.console_url
    assert httpx.post(url + "/deadletter", content=b"not an event",
                      trust_env=False).status_code == 400
    forged = {"ce-specversion": "1.0", "ce-type": "incident.plan.proposed", "ce-id": "dl-1",
              "ce-source": "/orchestrator/agent", "content-type": "application/json"}
    r = httpx.post(url + "/deadletter", content=b"{}", headers=forged, trust_env=False)
    assert r.status_code == 202
    letters = httpx.get(url + "/api/deadletters", trust_env=False,
                        headers={"Authorization": f"Bearer {env.api_token}"}).json()
    (letter,) = [d for d in letters["deadletters"] if d["event_id"] == "dl-1"]
    assert httpx.post(f"{url}/api/deadletters/{letter['id']}/resend",
                      trust_env=False).status_code == 401
    assert env.count() == before


def _forge(approved: dict[str, Any], *, unsigned: bool = False,
           **changes: Any) -> tuple[dict[str, str], bytes]:
    """The approved event with its data changed under its original signature (or without one),
    under a new id."""
    attrs = {**approved["attributes"], "id": f"forged-{uuid.uuid4().hex[:12]}"}
    if unsigned:
        attrs = {k: v for k, v in attrs.items() if k not in ("signature", "signerkey")}
    data = json.loads(json.dumps(approved["data"]))
    for path, value in changes.items():
        node = data
        *head, last = path.split(".")
        for part in head:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value
    headers = {f"ce-{k}": v for k, v in attrs.items() if k != "datacontenttype"}
    headers["content-type"] = "application/json"
    return headers, json.dumps(data).encode()


def _post_to_broker(env: Env, headers: dict[str, str], body: bytes) -> None:
    r = httpx.post(env.broker.url, content=body, headers=headers, trust_env=False)
    assert r.status_code == 202, r.text


def _audited_ids(env: Env, key: str) -> set[str]:
    """Event ids the console recorded as fact for an incident."""
    return {r.id for r in audit.read(LocalDirStore(env.stack.state / "audit"), key)}


def _replies_to(env: Env, key: str, ids: list[str]) -> list[Any]:
    replies = {event_id(key, "executor", i) for i in ids}
    return [e for e in env.broker.events(key) if e.attributes["id"] in replies]


@pytest.mark.slow
def test_forged_approvals_on_the_broker_write_nothing(env: Env,
                                                      approved: dict[str, Any]) -> None:
    """Altered after the console signed it, an approval no longer verifies at the executor's
    door (401: the broker dead-letters it); it is never answered, acted on or logged."""
    writes = len(env.writes())
    plan = approved["data"]["plan"]
    other = dict(plan["actions"][0], target={**plan["actions"][0]["target"], "name": "other"})
    forgeries = {
        "signatures made up": _forge(approved, executor_signature="ed25519:x:" + "0" * 88,
                                     console_signature="ed25519:y:" + "1" * 88),
        "plan altered": _forge(approved, **{"plan.actions": [other]}),
        "approver swapped": _forge(approved, approver="mallory"),
        "signed again later": _forge(approved, decided_at=dt.datetime.now(dt.UTC).isoformat()),
        "versions altered": _forge(approved, resource_versions={}),
        "unsigned": _forge(approved, unsigned=True),
    }
    for headers, body in forgeries.values():
        _post_to_broker(env, headers, body)
    env.idle()
    ids = [h["ce-id"] for h, _ in forgeries.values()]
    assert _replies_to(env, env.key, ids) == []
    assert not set(ids) & _audited_ids(env, env.key)
    assert len(env.writes()) == writes, [r.path for r in env.writes()[writes:]]


@pytest.mark.slow
def test_a_genuine_approval_replayed_writes_nothing(env: Env, approved: dict[str, Any]) -> None:
    """The very same signed event, replayed as it was (within the freshness window): the
    executor recognises the plan as applied and writes nothing."""
    writes = len(env.writes())
    headers = {f"ce-{k}": v for k, v in approved["attributes"].items() if k != "datacontenttype"}
    headers["content-type"] = "application/json"
    for _ in range(2):
        _post_to_broker(env, headers, approved["body"])
    env.idle()
    assert len(env.writes()) == writes
    replies = _replies_to(env, env.key, [headers["ce-id"]])
    assert replies and [r["outcome"] for r in replies[-1].data["results"]] == ["already-applied"]


@pytest.mark.slow
def test_a_forged_approval_posted_to_the_executor_itself_is_refused(
        env: Env, approved: dict[str, Any]) -> None:
    writes = len(env.writes())
    for forged in (_forge(approved, approver="mallory"), _forge(approved, unsigned=True)):
        headers, body = forged
        r = httpx.post(env.stack.urls["executor"], content=body, headers=headers,
                       trust_env=False)
        assert r.status_code == 401 and "ce-type" not in r.headers, r.text
    assert len(env.writes()) == writes


@pytest.mark.slow
def test_a_forged_approval_request_is_neither_shown_nor_approvable(
        env: Env, approved: dict[str, Any]) -> None:
    """`/events` verifies the executor signed a request before it is recorded: a forged one
    is refused (401), so there is nothing for a human to approve."""
    writes = len(env.writes())
    now = dt.datetime.now(dt.UTC)
    key, plan_id = "forged-incident-1", "forged-plan-1"
    data = json.loads(json.dumps(env.request))
    data.update(incident_key=key, requested_at=now.isoformat(),
                expires_at=(now + dt.timedelta(minutes=15)).isoformat())
    data["plan"].update(plan_id=plan_id, incident_key=key)
    headers = {"ce-specversion": "1.0", "ce-type": "incident.approval.requested",
               "ce-source": "/orchestrator/executor", "ce-id": "forged-request-1",
               "ce-incidentkey": key, "content-type": "application/json"}
    url = env.stack.console_url
    r = httpx.post(url + "/events", content=json.dumps(data), headers=headers, trust_env=False)
    assert r.status_code == 401, r.text
    r = httpx.post(f"{url}/api/approvals/{plan_id}/approve", json={},
                   headers={"Authorization": f"Bearer {env.approver_token}"}, trust_env=False)
    assert r.status_code == 404, r.text
    assert _audited_ids(env, key) == set()
    assert len(env.writes()) == writes


@pytest.mark.slow
def test_forged_proposals_on_the_broker_write_nothing(env: Env,
                                                      approved: dict[str, Any]) -> None:
    """The broker's ingress takes any well-formed event: a plan within policy (restart the
    alerted Deployment, which enforce mode runs without a human) posted there by anyone but the
    agent is refused at the executor's door for its signature, not for its content."""
    writes = len(env.writes())
    (genuine,) = [e for e in env.broker.events(env.key)
                  if e.attributes["type"] == "incident.plan.proposed"]
    assert genuine.attributes["signerkey"].startswith("agent/")
    restart = [{"type": "rollout_restart", "parameters": {}, "reason": "restart it",
                "target": {"kind": "Deployment", "namespace": NS, "name": APP}}]
    altered = {**genuine.data, "plan": {**genuine.data["plan"], "actions": restart}}
    base = {f"ce-{k}": v for k, v in genuine.attributes.items() if k != "datacontenttype"}
    forgeries = {
        "unsigned": {k: v for k, v in base.items() if k not in ("ce-signature",
                                                               "ce-signerkey")},
        "signature made up": {**base, "ce-signature": "A" * 86 + "=="},
        "signed, then altered": base,
        "signed by another key": {**base, "ce-signerkey": "router/" + "0" * 16},
    }
    sent = []
    for headers in forgeries.values():
        _post_to_broker(env, {**headers, "content-type": "application/json"},
                        json.dumps(altered).encode())
        sent.append(headers["ce-id"])
    r = httpx.post(env.stack.urls["executor"], content=json.dumps(altered),
                   headers={**forgeries["unsigned"], "content-type": "application/json"},
                   trust_env=False)
    assert r.status_code == 401, r.text
    env.idle()
    assert len(env.writes()) == writes, [r.path for r in env.writes()[writes:]]
