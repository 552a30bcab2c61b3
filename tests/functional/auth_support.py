"""The stack the authentication and forgery tests run against: the five functions and the local
broker on a fake cluster in enforce mode, one crash-looping Deployment whose rollback awaits a
human, and that approval given through the web page (cookie + CSRF). Import the fixtures
(`env_fixture`, `web_fixture`, `approved_fixture`) to use `env`, `web` and `approved`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.console.session import COOKIE
from orchestrator.local.stack import Stack, StackOptions
from tests.conftest import load_event
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI

NS, APP, CLUSTER = "payments", "cart", "prod-eu-west-1"
SLACK_SECRET = "slack-signing-secret-5b0e7a"


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
        """The service token (the sweep's): reads, never decides."""
        return self.stack.secrets["console_api_token"]

    @property
    def approver_token(self) -> str:
        """The local user's personal token: what a person logs in and decides with."""
        return self.stack.secrets["approver_token"]

    @property
    def plan_id(self) -> str:
        return str(self.request["plan"]["plan_id"])

    def count(self) -> int:
        """Events on the broker once it is idle: an earlier test's incident may still be
        running its loop, and a request that wrongly got through has then had its effect."""
        self.idle()
        return len(self.broker.events())

    def writes(self) -> list[Any]:
        return [r for r in self.api.requests if r.method in ("PATCH", "POST", "DELETE", "PUT")
                and not r.dry_run and "/leases" not in r.path and "/events" not in r.path]

    def idle(self) -> None:
        assert self.broker.wait_idle(60), self.broker.stats()


def alert_payload(pod: str, fingerprint: str) -> dict[str, Any]:
    payload = load_event("alertmanager_crashloop")
    alert = payload["alerts"][0]
    alert["labels"].update(namespace=NS, pod=pod, container="app", cluster=CLUSTER)
    alert["fingerprint"] = fingerprint
    alert["startsAt"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    return payload


@pytest.fixture(scope="module", name="env")
def env_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
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
            payload = alert_payload(scenario["pod"]["metadata"]["name"], "a0a0a0a0a0a0a0a1")
            r = httpx.post(stack.ingest_url, json=payload, headers=headers, trust_env=False)
            assert r.status_code == 200, r.text
            (key,) = r.json()["incidents"]
            assert stack.broker is not None and stack.broker.wait_idle(60)
            (request,) = [e.data for e in stack.broker.events(key)
                          if e.attributes["type"] == "incident.approval.requested"]
            yield Env(stack, api, key, request)


@pytest.fixture(scope="module", name="web")
def web_fixture(env: Env) -> Iterator[httpx.Client]:
    """A client that keeps no cookie jar: each request carries exactly the cookie it is given."""
    def forget(_: httpx.Response) -> None:
        c.cookies.clear()

    with httpx.Client(base_url=env.stack.console_url, timeout=30, trust_env=False,
                      event_hooks={"response": [forget]}) as c:
        yield c


def login(web: httpx.Client, env: Env) -> str:
    r = web.post("/login", data={"token": env.approver_token, "next": "/"})
    assert r.status_code == 303, r.text[:300]
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";", 1)[0].split("=", 1)[1]


def csrf_of(web: httpx.Client, env: Env, cookie: str) -> str:
    page = web.get(f"/incidents/{env.key}", headers={"cookie": f"{COOKIE}={cookie}"})
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module", name="approved")
def approved_fixture(env: Env, web: httpx.Client) -> dict[str, Any]:
    """A human approves through the web page (cookie + CSRF); the executor acts once."""
    cookie = login(web, env)
    r = web.post(f"/incidents/{env.key}/decide", headers={"cookie": f"{COOKIE}={cookie}"},
                 data={"csrf": csrf_of(web, env, cookie), "plan_id": env.plan_id,
                       "decision": "approved"})
    assert r.status_code == 303, r.text[:300]
    env.idle()
    (event,) = [e for e in env.broker.events(env.key)
                if e.attributes["type"] == "incident.plan.approved"]
    assert [r.path for r in env.writes()] == [
        f"/apis/apps/v1/namespaces/{NS}/deployments/{APP}"]
    return {"attributes": dict(event.attributes), "data": event.data, "body": event.body}
