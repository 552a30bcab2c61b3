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

from orchestrator.keys import event_id
from tests.functional.auth_support import (  # noqa: F401 - the *_fixture are fixtures
    APP,
    NS,
    Env,
    approved_fixture,
    env_fixture,
    web_fixture,
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


def _forge(approved: dict[str, Any], **changes: Any) -> tuple[dict[str, str], bytes]:
    attrs = {**approved["attributes"], "id": f"forged-{uuid.uuid4().hex[:12]}"}
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


@pytest.mark.slow
def test_forged_approvals_on_the_broker_write_nothing(env: Env,
                                                      approved: dict[str, Any]) -> None:
    writes = len(env.writes())
    plan = approved["data"]["plan"]
    other = dict(plan["actions"][0], target={**plan["actions"][0]["target"], "name": "other"})
    forgeries = {
        "signatures made up": _forge(approved, executor_signature="hmac-sha256:" + "0" * 64,
                                     console_signature="hmac-sha256:" + "1" * 64),
        "console signature made up": _forge(approved, console_signature="hmac-sha256:" + "2" * 64),
        "plan altered": _forge(approved, **{"plan.actions": [other]}),
        "approver swapped": _forge(approved, approver="mallory"),
        "signed again later": _forge(approved, decided_at=dt.datetime.now(dt.UTC).isoformat()),
        "versions altered": _forge(approved, resource_versions={}),
    }
    for headers, body in forgeries.values():
        _post_to_broker(env, headers, body)
    env.idle()
    by_id = {e.attributes["id"]: e for e in env.broker.events(env.key)}
    for name, (headers, _) in forgeries.items():
        reply = by_id[event_id(env.key, "executor", headers["ce-id"])]
        assert reply.attributes["type"] == "incident.escalated", (name, reply.data)
        assert reply.data["reason"] == "approval-invalid", (name, reply.data)
    assert len(env.writes()) == writes, [r.path for r in env.writes()[writes:]]


@pytest.mark.slow
def test_a_genuine_approval_replayed_writes_nothing(env: Env, approved: dict[str, Any]) -> None:
    writes, replays = len(env.writes()), []
    for _ in range(2):
        headers, body = _forge(approved)  # the very same signed body, under a new event id
        _post_to_broker(env, headers, body)
        replays.append(headers["ce-id"])
    env.idle()
    assert len(env.writes()) == writes
    by_id = {e.attributes["id"]: e for e in env.broker.events(env.key)}
    for replay in replays:
        reply = by_id[event_id(env.key, "executor", replay)]
        assert reply.attributes["type"] == "incident.action.completed", reply.data
        assert [r["outcome"] for r in reply.data["results"]] == ["already-applied"]


@pytest.mark.slow
def test_a_forged_approval_posted_to_the_executor_itself_is_refused(
        env: Env, approved: dict[str, Any]) -> None:
    writes = len(env.writes())
    headers, body = _forge(approved, approver="mallory")
    r = httpx.post(env.stack.urls["executor"], content=body, headers=headers, trust_env=False)
    assert r.status_code == 200 and r.headers["ce-type"] == "incident.escalated"
    assert r.json()["reason"] == "approval-invalid"
    assert len(env.writes()) == writes


@pytest.mark.slow
def test_a_forged_approval_request_approved_by_a_human_writes_nothing(
        env: Env, approved: dict[str, Any]) -> None:
    """`/events` takes what the broker delivers, unauthenticated: a forged request shows up in
    the console, and a human may even approve it; the executor's signature is what it lacks."""
    writes = len(env.writes())
    now = dt.datetime.now(dt.UTC)
    key, plan_id = "forged-incident-1", "forged-plan-1"
    data = json.loads(json.dumps(env.request))
    data.update(incident_key=key, signature="hmac-sha256:" + "3" * 64,
                requested_at=now.isoformat(), expires_at=(now + dt.timedelta(minutes=15))
                .isoformat())
    data["plan"].update(plan_id=plan_id, incident_key=key)
    headers = {"ce-specversion": "1.0", "ce-type": "incident.approval.requested",
               "ce-source": "/orchestrator/executor", "ce-id": "forged-request-1",
               "ce-incidentkey": key, "content-type": "application/json"}
    url = env.stack.console_url
    r = httpx.post(url + "/events", content=json.dumps(data), headers=headers, trust_env=False)
    assert r.status_code == 202
    r = httpx.post(f"{url}/api/approvals/{plan_id}/approve", json={},
                   headers={"Authorization": f"Bearer {env.approver_token}"}, trust_env=False)
    assert r.status_code == 202, r.text
    env.idle()
    (decision,) = [e for e in env.broker.events(key)
                   if e.attributes["type"] == "incident.plan.approved"]
    reply = next(e for e in env.broker.events(key)
                 if e.attributes["id"] == event_id(key, "executor", decision.attributes["id"]))
    assert reply.data["reason"] == "approval-invalid", reply.data
    assert "executor's signature" in reply.data["detail"]
    assert len(env.writes()) == writes


@pytest.mark.slow
def test_forged_proposals_on_the_broker_write_nothing(env: Env,
                                                      approved: dict[str, Any]) -> None:
    """The broker's ingress takes any well-formed event: a plan within policy (restart the
    alerted Deployment, which enforce mode runs without a human) posted there by anyone but the
    agent is refused for its signature, not for its content."""
    writes = len(env.writes())
    (genuine,) = [e for e in env.broker.events(env.key)
                  if e.attributes["type"] == "incident.plan.proposed"]
    assert genuine.data["signature"].startswith("hmac-sha256:")
    restart = [{"type": "rollout_restart", "parameters": {}, "reason": "restart it",
                "target": {"kind": "Deployment", "namespace": NS, "name": APP}}]
    forged_plan = {**genuine.data["plan"], "plan_id": "forged-plan-2", "actions": restart}
    forgeries = {
        "unsigned": {**genuine.data, "plan": forged_plan, "signature": None},
        "signature made up": {**genuine.data, "plan": forged_plan,
                              "signature": "hmac-sha256:" + "4" * 64},
        "signed, then altered": {**genuine.data, "plan": {**genuine.data["plan"],
                                                          "actions": restart}},
    }
    sent = {}
    for name, data in forgeries.items():
        headers = {**{f"ce-{k}": v for k, v in genuine.attributes.items()
                      if k != "datacontenttype"},
                   "ce-id": f"forged-{uuid.uuid4().hex[:12]}", "content-type": "application/json"}
        _post_to_broker(env, headers, json.dumps(data).encode())
        sent[name] = headers["ce-id"]
    direct = {**{f"ce-{k}": v for k, v in genuine.attributes.items() if k != "datacontenttype"},
              "ce-id": "forged-direct-1", "content-type": "application/json"}
    r = httpx.post(env.stack.urls["executor"], content=json.dumps(forgeries["unsigned"]),
                   headers=direct, trust_env=False)
    assert r.status_code == 200 and r.json()["reason"] == "policy", r.text
    env.idle()
    by_id = {e.attributes["id"]: e for e in env.broker.events(env.key)}
    for name, forged_id in sent.items():
        reply = by_id[event_id(env.key, "executor", forged_id)]
        assert reply.attributes["type"] == "incident.escalated", (name, reply.data)
        assert reply.data["reason"] == "policy", (name, reply.data)
        assert "signed by the agent" in reply.data["detail"] or \
            "agent's signature" in reply.data["detail"], (name, reply.data)
    assert len(env.writes()) == writes, [r.path for r in env.writes()[writes:]]
