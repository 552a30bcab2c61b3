"""The console behind an authenticating proxy (oauth2-proxy's X-Auth-Request-Email): the
identity header is trusted only when the option names it, and binds the session it opens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.events import PlanApproved
from tests.fakes.sink import Sink
from tests.functional.console_support import (
    APPROVER,
    awaiting,
    console_app,
    console_env,
    csrf_of,
)

PROXY = "X-Auth-Request-Email"


@pytest.fixture
def client(console_for: Callable[..., Any]) -> Any:
    """A console without the option: no header is trusted."""
    return console_for()


def test_the_identity_header_is_ignored_when_the_option_is_off(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = awaiting(client)
    who = {PROXY: APPROVER}
    r = client.get(f"/incidents/{story.key}", headers=who)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = client.post(f"/incidents/{story.key}/decide", headers=who, data={
        "plan_id": story.plan.plan_id, "decision": "approved"})
    assert r.status_code == 401 and sink.received == []


@pytest.fixture
def proxied(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A console behind an authenticating proxy that sets X-Auth-Request-Email."""
    console_env(monkeypatch, tmp_path / "audit", sink.url, CONSOLE_IDENTITY_HEADER=PROXY.lower())
    yield console_app().test_client()
    __import__("orchestrator.console.service").console.service.instance.reset()


def test_the_identity_header_is_honoured_when_on(proxied, sink) -> None:  # type: ignore[no-untyped-def]
    story = awaiting(proxied)
    who = {PROXY: APPROVER}
    page = proxied.get(f"/incidents/{story.key}", headers=who)
    assert page.status_code == 200 and APPROVER in page.get_data(as_text=True)
    # The session it binds carries the CSRF token the forms need.
    assert "HttpOnly" in page.headers["set-cookie"]
    form = {"plan_id": story.plan.plan_id, "decision": "approved"}
    assert proxied.post(f"/incidents/{story.key}/decide", headers=who,
                        data=form).status_code == 403
    r = proxied.post(f"/incidents/{story.key}/decide", headers=who,
                     data={**form, "csrf": csrf_of(page.get_data(as_text=True)),
                           "approver": "someone-else@example.com"})
    assert r.status_code == 303, r.get_data(as_text=True)
    assert PlanApproved.model_validate(sink.wait_for(1)[0].json()).approver == APPROVER


def test_the_header_session_is_bound_to_the_header(proxied, sink) -> None:  # type: ignore[no-untyped-def]
    """The proxy decides who is calling: Alice's session cookie with the proxy now saying
    Mallory is Mallory's, and without the header it is no login at all."""
    story = awaiting(proxied)
    page = proxied.get(f"/incidents/{story.key}", headers={PROXY: APPROVER})
    csrf = csrf_of(page.get_data(as_text=True))
    form = {"plan_id": story.plan.plan_id, "decision": "approved", "csrf": csrf}
    r = proxied.post(f"/incidents/{story.key}/decide", headers={PROXY: "mallory@example.com"},
                     data=form)
    assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
    bare = proxied.get(f"/incidents/{story.key}")
    assert bare.status_code == 303 and bare.headers["location"].startswith("/login")
    for bad in ("", "a b@example.com", "alice@example.com, bob@example.com", "x" * 300):
        r = proxied.get(f"/incidents/{story.key}", headers={PROXY: bad})
        assert r.status_code == 303, bad
    assert sink.received == []
