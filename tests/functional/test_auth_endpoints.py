"""Every inbound endpoint refuses a missing, wrong or replayed credential, through the real stack:
the ingest webhook and manual CloudEvents (bearer, or a token in the data), the console API and
the sweep (bearer), the web page (signed session cookie, CSRF token, logout), Slack
interactivity (signature, timestamp window, replay). A refused request changes nothing: no
event on the broker, no write on the cluster.

What a credential cannot protect, the protocol does: a forged `incident.plan.approved` posted
straight to the broker (or to the executor itself) is escalated `approval-invalid` and writes
nothing; a genuine approval replayed after it was acted on writes nothing either.
`/deadletter` and `/events` take no credential: only the broker may reach them (cluster-local on
Knative); what is posted there is kept and shown, never acted on without an authenticated call.

Secrets are compared in constant time everywhere: a static check walks the code for `==` on them.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import orchestrator
from orchestrator.console.session import COOKIE, Sessions
from orchestrator.keys import event_id
from orchestrator.local.stack import Stack, StackOptions, local_user
from tests.conftest import load_event
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.slack import interaction, sign

NS, APP, CLUSTER = "payments", "cart", "prod-eu-west-1"
SLACK_SECRET = "slack-signing-secret-5b0e7a"
# `digest` alone is not here: content hashes (`sha256(data).digest()`) are compared openly.
SECRET_WORDS = re.compile(r"token|signature|secret|password|passwd|csrf|hmac|^mac$", re.I)


# ---- static: constant-time comparisons -----------------------------------------------------


def _names(node: ast.AST) -> list[str]:
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.append(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.append(sub.attr)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            found.append("")  # a literal: comparing with one is not comparing two secrets
    return found


def test_secrets_are_compared_in_constant_time() -> None:
    """No `==`, `!=` or `in` between values named like a secret anywhere in the package."""
    root = Path(orchestrator.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn)
                       for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            secret = [o for o in operands if any(SECRET_WORDS.search(n) for n in _names(o))]
            literal = any(isinstance(o, ast.Constant) for o in operands)
            if secret and not literal:
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
    for module in ("auth.py", "signing.py", "console/slack.py", "console/session.py"):
        assert "hmac.compare_digest" in (root / module).read_text(), module


def test_a_logout_record_lasts_as_long_as_its_cookie(tmp_path: Path) -> None:
    from orchestrator.adapters.objects import LocalDirStore
    from orchestrator.console import session

    store, sessions, now = LocalDirStore(tmp_path), Sessions("api-token", 3600), time.time()
    cookie, other = (sessions.issue("alice", now=now) for _ in range(2))
    assert cookie != other  # two logins, two cookies: ending one ends only that one
    session.end(store, sessions, cookie)
    assert session.ended(store, sessions, cookie) and not session.ended(store, sessions, other)
    assert session.forget_ended(store, now=now) == 0
    assert session.forget_ended(store, now=now + 3601) == 1
    assert store.list(f"{session.ENDED}/") == []


# ---- the stack -----------------------------------------------------------------------------


@dataclass
class Env:
    stack: Stack
    api: FakeKubeAPI
    key: str
    request: dict[str, Any]
    """The genuine `incident.approval.requested` data."""

    @property
    def broker(self) -> Any:
        assert self.stack.broker is not None
        return self.stack.broker

    @property
    def api_token(self) -> str:
        return self.stack.secrets["console_api_token"]

    @property
    def plan_id(self) -> str:
        return str(self.request["plan"]["plan_id"])

    def count(self) -> int:
        return len(self.broker.events())

    def writes(self) -> list[Any]:
        return [r for r in self.api.requests if r.method in ("PATCH", "POST", "DELETE", "PUT")
                and not r.dry_run and "/leases" not in r.path and "/events" not in r.path]

    def idle(self) -> None:
        assert self.broker.wait_idle(60), self.broker.stats()


def _alert(pod: str, fingerprint: str) -> dict[str, Any]:
    payload = load_event("alertmanager_crashloop")
    alert = payload["alerts"][0]
    alert["labels"].update(namespace=NS, pod=pod, container="app", cluster=CLUSTER)
    alert["fingerprint"] = fingerprint
    alert["startsAt"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    return payload


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("auth")
    with FakeKubeAPI() as api:
        scenario = ko.crashlooping_deployment(NS, APP).load(api)  # a fresh rollout: rollback
        options = StackOptions(
            state=tmp / "state", enforce=True, cluster_name=CLUSTER, time_scale=0.05,
            kubeconfig=Path(api.write_kubeconfig(str(tmp / "kubeconfig"))),
            env={"console": {"CONSOLE_SLACK_SIGNING_SECRET": SLACK_SECRET},
                 "router": {"ROUTER_VERIFY_TIMEOUT_SECONDS": "2",
                            "ROUTER_VERIFY_SETTLE_SECONDS": "1"}})
        with Stack(options) as stack:
            headers = {"Authorization": f"Bearer {stack.secrets['ingest_token']}"}
            payload = _alert(scenario["pod"]["metadata"]["name"], "a0a0a0a0a0a0a0a1")
            r = httpx.post(stack.ingest_url, json=payload, headers=headers, trust_env=False)
            assert r.status_code == 200, r.text
            (key,) = r.json()["incidents"]
            assert stack.broker is not None and stack.broker.wait_idle(60)
            (request,) = [e.data for e in stack.broker.events(key)
                          if e.attributes["type"] == "incident.approval.requested"]
            yield Env(stack, api, key, request)


@pytest.fixture(scope="module")
def web(env: Env) -> Iterator[httpx.Client]:
    """A client that keeps no cookie jar: each request carries exactly the cookie it is given."""
    def forget(_: httpx.Response) -> None:
        c.cookies.clear()

    with httpx.Client(base_url=env.stack.console_url, timeout=30, trust_env=False,
                      event_hooks={"response": [forget]}) as c:
        yield c


def _login(web: httpx.Client, env: Env, name: str | None = None) -> str:
    r = web.post("/login", data={"name": name or local_user(), "token": env.api_token,
                                 "next": "/"})
    assert r.status_code == 303, r.text[:300]
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";", 1)[0].split("=", 1)[1]


def _csrf(web: httpx.Client, env: Env, cookie: str) -> str:
    page = web.get(f"/incidents/{env.key}", headers={"cookie": f"{COOKIE}={cookie}"})
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def approved(env: Env, web: httpx.Client) -> dict[str, Any]:
    """A human approves through the web page (cookie + CSRF); the executor acts once."""
    cookie = _login(web, env)
    r = web.post(f"/incidents/{env.key}/decide", headers={"cookie": f"{COOKIE}={cookie}"},
                 data={"csrf": _csrf(web, env, cookie), "plan_id": env.plan_id,
                       "decision": "approved"})
    assert r.status_code == 303, r.text[:300]
    env.idle()
    (event,) = [e for e in env.broker.events(env.key)
                if e.attributes["type"] == "incident.plan.approved"]
    assert [r.path for r in env.writes()] == [
        f"/apis/apps/v1/namespaces/{NS}/deployments/{APP}"]
    return {"attributes": dict(event.attributes), "data": event.data}


# ---- ingest --------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_webhook_refuses_a_missing_wrong_or_foreign_credential(env: Env) -> None:
    token, before = env.stack.secrets["ingest_token"], env.count()
    payload = _alert("cart-x", "a0a0a0a0a0a0a0b1")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"},
                    {"Authorization": f"Bearer {token}x"}, {"Authorization": f"Bearer {token[:-1]}"},
                    {"Authorization": token}, {"X-Auth-Token": token},
                    {"Authorization": f"Bearer {token.upper()}"}):
        r = httpx.post(env.stack.ingest_url, json=payload, headers=headers, trust_env=False)
        assert r.status_code == 401, (headers.keys(), r.status_code)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert token not in r.text
    r = httpx.post(f"{env.stack.ingest_url}?token={token}", json=payload, trust_env=False)
    assert r.status_code == 401
    assert env.count() == before, "a refused webhook reached the broker"


@pytest.mark.slow
def test_a_replayed_webhook_is_the_same_event_not_a_new_incident(env: Env) -> None:
    """A bearer token is a static credential; a replay cannot be told from Alertmanager's own
    retry, so it is made harmless instead: the same alert is the same event id."""
    headers = {"Authorization": f"Bearer {env.stack.secrets['ingest_token']}"}
    payload = _alert("cart-y", "a0a0a0a0a0a0a0c1")
    keys = [httpx.post(env.stack.ingest_url, json=payload, headers=headers,
                       trust_env=False).json()["incidents"] for _ in range(2)]
    assert keys[0] == keys[1]
    env.idle()
    received = [e.attributes["id"] for e in env.broker.events(keys[0][0])
                if e.attributes["type"] == "incident.alert.received"]
    assert len(received) == 2 and len(set(received)) == 1


def _manual(env: Env, data: dict[str, Any], ce_id: str, **headers: str) -> httpx.Response:
    """A manual trigger as `kn func invoke` sends it (binary-mode CloudEvent)."""
    base = {"ce-specversion": "1.0", "ce-type": "incident.alert.manual",
            "ce-source": "/test/kn-func-invoke", "ce-id": ce_id,
            "content-type": "application/json"}
    return httpx.post(env.stack.ingest_url, content=json.dumps(data),
                      headers={**base, **headers}, trust_env=False)


@pytest.mark.slow
def test_a_manual_trigger_needs_the_token_and_never_forwards_it(env: Env) -> None:
    token, before = env.stack.secrets["ingest_token"], env.count()
    labels = {"alertname": "KubePodCrashLooping", "namespace": NS, "pod": "cart-z"}
    assert _manual(env, {"labels": labels}, "m-1").status_code == 401
    assert _manual(env, {"labels": labels, "token": "wrong"}, "m-2").status_code == 401
    assert _manual(env, {"labels": labels, "token": 42}, "m-3").status_code == 400
    assert _manual(env, {"labels": labels}, "m-4", authorization="Bearer wrong").status_code == 401
    assert env.count() == before
    first = _manual(env, {"labels": labels, "token": token}, "m-5")
    again = _manual(env, {"labels": labels, "token": token}, "m-5")
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["event_id"] == again.json()["event_id"]  # a replay is a redelivery
    env.idle()
    for e in env.broker.events(first.json()["incidents"][0]):
        assert token not in e.body.decode() + json.dumps(e.attributes)


# ---- console API and sweep -----------------------------------------------------------------


@pytest.mark.slow
def test_the_console_api_and_sweep_refuse_a_missing_or_wrong_token(env: Env) -> None:
    before, writes = env.count(), len(env.writes())
    routes = [("GET", "/api/incidents"), ("GET", f"/api/incidents/{env.key}"),
              ("GET", "/api/approvals"), ("POST", f"/api/approvals/{env.plan_id}/approve"),
              ("POST", f"/api/approvals/{env.plan_id}/reject"), ("GET", "/api/deadletters"),
              ("POST", "/api/deadletters/abc123/resend"), ("POST", "/sweep")]
    token = env.api_token
    with httpx.Client(base_url=env.stack.console_url, timeout=30, trust_env=False) as c:
        for method, path in routes:
            for headers in ({}, {"Authorization": "Bearer wrong"},
                            {"Authorization": f"Basic {token}"},
                            {"Authorization": f"Bearer {env.stack.secrets['ingest_token']}"},
                            {"Cookie": f"{COOKIE}=forged.value"}):
                r = c.request(method, path, headers=headers,
                              json={"approver": local_user()} if method == "POST" else None)
                assert r.status_code == 401, (method, path, headers.keys(), r.status_code)
        ok = c.get(f"/api/incidents/{env.key}", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["summary"]["incident_key"] == env.key
        # A GET is never the sweep: it is the (login-protected) web page.
        assert c.get("/sweep").status_code == 303
    assert env.count() == before, "a refused call reached the broker"
    assert len(env.writes()) == writes


# ---- the web page --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_web_login_refuses_a_wrong_token(env: Env, web: httpx.Client) -> None:
    assert web.get("/").status_code == 303
    for token in ("", "wrong", env.stack.secrets["ingest_token"], env.api_token[:-1]):
        r = web.post("/login", data={"name": local_user(), "token": token, "next": "/"})
        assert r.status_code in (400, 401) and "set-cookie" not in r.headers, token
    r = web.post("/login", data={"name": local_user(), "token": env.api_token,
                                 "next": "//evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/"


@pytest.mark.slow
def test_a_forged_tampered_or_expired_cookie_is_no_login(env: Env, web: httpx.Client) -> None:
    cookie = _login(web, env)
    payload, _, mac = cookie.partition(".")
    now = time.time()
    other = Sessions("another-token", 3600).issue(local_user(), now=now)
    expired = Sessions(env.api_token, 3600).issue(local_user(), now=now - 7200)
    tampered = Sessions(env.api_token, 3600).issue("mallory", now=now).split(".")[0] + "." + mac
    for bad in (other, expired, tampered, payload, f"{payload}.", f".{mac}", "x" * 400,
                cookie + "A", "é.é"):
        r = web.get(f"/incidents/{env.key}",
                    headers={"cookie": f"{COOKIE}={bad}".encode("latin-1")})
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), bad
    assert web.get(f"/incidents/{env.key}",
                   headers={"cookie": f"{COOKIE}={cookie}"}).status_code == 200


@pytest.mark.slow
def test_a_decision_needs_the_csrf_token_of_its_own_session(env: Env, web: httpx.Client) -> None:
    before, writes = env.count(), len(env.writes())
    mine, theirs = _login(web, env), _login(web, env, "someone-else")
    their_csrf = _csrf(web, env, theirs)
    for csrf in (None, "", "wrong", their_csrf, _csrf(web, env, mine) + "x"):
        form = {"plan_id": env.plan_id, "decision": "approved"}
        if csrf is not None:
            form["csrf"] = csrf
        r = web.post(f"/incidents/{env.key}/decide", data=form,
                     headers={"cookie": f"{COOKIE}={mine}"})
        assert r.status_code == 403, (csrf, r.status_code)
    r = web.post(f"/incidents/{env.key}/decide", data={"plan_id": env.plan_id,
                                                       "decision": "approved"})
    assert r.status_code == 401
    assert env.count() == before and len(env.writes()) == writes


@pytest.mark.slow
def test_a_cookie_replayed_after_logout_is_refused(env: Env, web: httpx.Client) -> None:
    cookie = _login(web, env)
    headers = {"cookie": f"{COOKIE}={cookie}"}
    r = web.post("/logout", data={"csrf": _csrf(web, env, cookie)}, headers=headers)
    assert r.status_code == 303 and "Max-Age=0" in r.headers["set-cookie"]
    assert web.get(f"/incidents/{env.key}", headers=headers).status_code == 303
    assert web.post("/logout", data={}, headers=headers).status_code == 401


# ---- Slack ---------------------------------------------------------------------------------


def _slack(env: Env, body: bytes, headers: dict[str, Any]) -> httpx.Response:
    return httpx.post(env.stack.console_url + "/slack/interactivity", content=body,
                      headers=headers, trust_env=False)


@pytest.mark.slow
def test_slack_refuses_unsigned_forged_stale_and_replayed_requests(env: Env) -> None:
    before = env.count()
    body = interaction(plan_id=env.plan_id, user="U0NOTALLOWED")
    now = int(time.time())
    good = sign(SLACK_SECRET, body, now)
    cases: list[dict[str, Any]] = [
        {},
        {"X-Slack-Request-Timestamp": str(now)},
        {**good, "X-Slack-Signature": "v0=" + "0" * 64},
        sign("another-secret", body, now),
        sign(SLACK_SECRET, body + b"&x=1", now),
        sign(SLACK_SECRET, body, now - 400),  # outside the five-minute window
        sign(SLACK_SECRET, body, now + 400),
        {**good, "X-Slack-Request-Timestamp": b"\xb2"},  # '²': a digit to str.isdigit()
        {**good, "X-Slack-Request-Timestamp": "9" * 5000},
        {**good, "X-Slack-Request-Timestamp": f"{now}.0"},
        {**good, "X-Slack-Request-Timestamp": f"+{now}"},
    ]
    for headers in cases:
        r = _slack(env, body, headers)
        assert r.status_code == 401, (headers, r.status_code, r.text[:200])
    first = _slack(env, body, good)
    assert first.status_code == 200  # verified; the user is not an approver: nothing decided
    replay = _slack(env, body, good)
    assert replay.status_code == 401 and "replayed" in replay.text
    assert env.count() == before


# ---- dead letters and broker deliveries ----------------------------------------------------


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
    r = httpx.post(f"{url}/api/approvals/{plan_id}/approve", json={"approver": local_user()},
                   headers={"Authorization": f"Bearer {env.api_token}"}, trust_env=False)
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
