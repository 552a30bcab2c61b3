"""The stack the authentication and forgery tests run against: the five functions and the local
broker on a fake cluster in enforce mode, one crash-looping Deployment whose rollback awaits a
human, and that approval given through the web page (cookie + CSRF). The fixtures `env`, `web`
and `approved` that build it are in conftest.py.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import httpx

from orchestrator.console.session import COOKIE
from orchestrator.local.stack import Stack
from tests.conftest import load_event
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
