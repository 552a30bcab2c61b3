"""Every inbound endpoint refuses a missing, wrong or replayed credential, through the real stack:
the ingest webhook and manual CloudEvents (bearer, or a token in the data), the console API and
the sweep (bearer), the web page (signed session cookie, CSRF token, logout), Slack
interactivity (signature, timestamp window, replay). A refused request changes nothing: no
event on the broker, no write on the cluster.
What a credential cannot protect, the protocol does: test_forgeries.py.

Secrets are compared in constant time everywhere: a static check walks the code for `==` on them.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import orchestrator
from orchestrator.console.identity import Directory, Identity
from orchestrator.console.session import COOKIE, Sessions
from orchestrator.local.stack import local_user
from tests.fakes.slack import interaction, sign
from tests.functional.auth_support import (
    NS,
    SLACK_SECRET,
    Env,
    alert_payload,
    csrf_of,
    login,
)

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
    # signing.py and provenance.py verify Ed25519 signatures (OpenSSL), not shared secrets.
    for module in ("auth.py", "console/slack.py"):
        assert "hmac.compare_digest" in (root / module).read_text(), module
    # The console's cookies and CSRF tokens are checked by itsdangerous (`loads`, and
    # `verify_signature` for the CSRF token), whose HMAC check is constant-time.
    from itsdangerous.signer import HMACAlgorithm

    assert "hmac.compare_digest" in inspect.getsource(HMACAlgorithm.verify_signature)
    session = (root / "console/session.py").read_text()
    assert "from itsdangerous import" in session and ".verify_signature(" in session


def test_a_logout_record_lasts_as_long_as_its_cookie(tmp_path: Path) -> None:
    from orchestrator.adapters.object_store import LocalDirStore
    from orchestrator.console import session

    store, sessions, now = LocalDirStore(tmp_path), Sessions("material", 3600), time.time()
    cookie, other = (sessions.issue(Identity("alice", "token"), now=now) for _ in range(2))
    assert cookie != other  # two logins, two cookies: ending one ends only that one
    session.end(store, sessions, cookie)
    assert session.ended(store, sessions, cookie) and not session.ended(store, sessions, other)
    assert session.forget_ended(store, now=now) == 0
    assert session.forget_ended(store, now=now + 3601) == 1
    assert store.list(f"{session.ENDED}/") == []


# ---- ingest --------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_webhook_refuses_a_missing_wrong_or_foreign_credential(env: Env) -> None:
    token, before = env.stack.secrets["ingest_token"], env.count()
    payload = alert_payload("cart-x", "a0a0a0a0a0a0a0b1")
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
    payload = alert_payload("cart-y", "a0a0a0a0a0a0a0c1")
    keys = [httpx.post(env.stack.ingest_url, json=payload, headers=headers,
                       trust_env=False).json()["incidents"] for _ in range(2)]
    assert keys[0] == keys[1]
    env.idle()
    received = [e.attributes["id"] for e in env.broker.events(keys[0][0])
                if e.attributes["type"] == "incident.alert.received"]
    assert len(received) == 2 and len(set(received)) == 1


def _manual(env: Env, data: dict[str, Any], ce_id: str, **headers: str) -> httpx.Response:
    """A manual trigger as `kn func invoke` sends it (binary-mode CloudEvent). It carries its
    time, as a redelivery does: without one, ingest dates the alert at arrival (to the second),
    and two copies that straddle a second would be two incidents."""
    base = {"ce-specversion": "1.0", "ce-type": "incident.alert.manual",
            "ce-source": "/test/kn-func-invoke", "ce-id": ce_id,
            "ce-time": "2026-11-27T01:00:00Z", "content-type": "application/json"}
    return httpx.post(env.stack.ingest_url, content=json.dumps(data),
                      headers={**base, **headers}, trust_env=False)


@pytest.mark.slow
def test_a_manual_trigger_needs_the_token_and_never_forwards_it(env: Env) -> None:
    token, before = env.stack.secrets["ingest_token"], env.count()
    labels = {"alertname": "KubePodCrashLooping", "namespace": NS, "pod": "cart-z"}
    assert _manual(env, {"labels": labels}, "m-1").status_code == 401
    assert _manual(env, {"labels": labels, "token": "wrong"}, "m-2").status_code == 401
    # Not a string, so no credential: refused as unauthenticated before the data is validated.
    assert _manual(env, {"labels": labels, "token": 42}, "m-3").status_code == 401
    assert _manual(env, {"labels": 7, "token": "wrong"}, "m-6").status_code == 401
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
    # The service token (the sweep's) is nobody: it cannot log in as anyone.
    r = web.post("/login", data={"name": local_user(), "token": env.api_token, "next": "/"})
    assert r.status_code == 403 and "set-cookie" not in r.headers
    r = web.post("/login", data={"token": env.approver_token, "next": "/\t/evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/"


@pytest.mark.slow
def test_a_forged_tampered_or_expired_cookie_is_nologin(env: Env, web: httpx.Client) -> None:
    cookie = login(web, env)
    payload, _, mac = cookie.partition(".")
    now = time.time()
    real = Directory.build(service_token=env.api_token, tokens=json.dumps(
        {env.approver_token: local_user()})).session_material()
    me, mallory = Identity(local_user(), "token"), Identity("mallory", "token")
    other = Sessions("another-token", 3600).issue(me, now=now)
    expired = Sessions(real, 3600).issue(me, now=now - 7200)
    tampered = Sessions(real, 3600).issue(mallory, now=now).split(".")[0] + "." + mac
    # What the service token alone could sign (web logins used to be keyed on it).
    sweepers = [Sessions(m, 3600).issue(me, now=now) for m in (
        env.api_token, Directory.build(service_token=env.api_token).session_material())]
    for bad in (other, expired, tampered, *sweepers, payload, f"{payload}.", f".{mac}",
                "x" * 400, cookie + "A", "é.é"):
        r = web.get(f"/incidents/{env.key}",
                    headers={"cookie": f"{COOKIE}={bad}".encode("latin-1")})
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), bad
    assert web.get(f"/incidents/{env.key}",
                   headers={"cookie": f"{COOKIE}={cookie}"}).status_code == 200


@pytest.mark.slow
def test_a_decision_needs_the_csrf_token_of_its_own_session(env: Env, web: httpx.Client) -> None:
    before, writes = env.count(), len(env.writes())
    mine, theirs = login(web, env), login(web, env)  # two logins, two sessions
    their_csrf = csrf_of(web, env, theirs)
    for csrf in (None, "", "wrong", their_csrf, csrf_of(web, env, mine) + "x"):
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
    cookie = login(web, env)
    headers = {"cookie": f"{COOKIE}={cookie}"}
    r = web.post("/logout", data={"csrf": csrf_of(web, env, cookie)}, headers=headers)
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
