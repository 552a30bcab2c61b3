"""The web pages: login, security headers, hostile alert text rendered inert, CSRF, filters, and
Approve through the form taking the same signed path as the API."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from orchestrator.events import PLAN_APPROVED, PlanApproved
from orchestrator.plan import TokenBudget
from tests.functional.console_support import (
    ALICE,
    ALICE_TOKEN,
    APPROVER,
    AUTH,
    MALLORY_TOKEN,
    TOKEN,
    Story,
    awaiting,
    csrf_of,
    deliver,
    wire,
)

XSS = {
    "summary": "<script>window.pwned=1</script> checkout down",
    "description": '<img src=x onerror="alert(1)"><b>bold</b> & "quotes"',
    "runbook_url": "javascript:alert(document.cookie)",
    "dashboard": "https://grafana.example.com/d/abc?x=1&y=<2>",
}



@pytest.fixture
def client(console_for: Callable[..., Any]) -> Any:
    return console_for()


def login(client: Any, token: str = ALICE_TOKEN, **form: str) -> Any:
    return client.post("/login", data={"token": token, "next": "/", **form})


class Tags(HTMLParser):
    """Every start tag and attribute the browser would build from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = Tags()
    p.feed(html)
    return p.tags


def test_pages_need_a_login(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
    bad = login(client, token="wrong")
    assert bad.status_code == 401 and "set-cookie" not in {k.lower() for k, _ in bad.headers}
    good = login(client)
    assert good.status_code == 303
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


BYPASSES = ("//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example",
            "/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "\t//evil.example",
            "https:evil.example", "http:/evil.example", "javascript:alert(1)", "///evil.example",
            "%2F%2Fevil.example", "/\\/evil.example",
            " //evil.example", "/\x00/evil.example", "/\u3000/evil.example", "evil.example",
            "/login\r\nSet-Cookie: x=1", "")


@pytest.mark.parametrize("target", BYPASSES)
def test_login_redirects_only_to_our_own_pages(client, target: str) -> None:  # type: ignore[no-untyped-def]
    # The form field and the query string both arrive decoded once, as the browser sent them.
    r = client.post("/login", data={"token": ALICE_TOKEN, "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/", target
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert 'name="next" value="/"' in page, target


@pytest.mark.parametrize("raw", ["/%09/evil.example", "%2F%2Fevil.example", "/%5Cevil.example",
                                 "%2F%09%2Fevil.example", "https%3Aevil.example",
                                 "%252F%252Fevil.example", "/%0A/evil.example",
                                 "%5C%5Cevil.example", "/%E3%80%80/evil.example"])
def test_encoded_bypasses_in_the_query_string(client, raw: str) -> None:  # type: ignore[no-untyped-def]
    """`/login?next=/%09/evil.example` as the browser sends it, percent-encoding and all."""
    page = client.get(f"/login?next={raw}").get_data(as_text=True)
    found = re.search(r'name="next" value="([^"]*)"', page)
    assert found is not None
    target = found.group(1)
    assert target == "/" or (target.startswith("/") and not target.startswith("//")
                             and "%" in target), (raw, target)
    r = client.post("/login", data={"token": ALICE_TOKEN, "next": target})
    assert r.headers["location"] in ("/", target) and not r.headers["location"].startswith("//")


def test_login_follows_a_path_of_our_own(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/incidents/x").headers["location"] == "/login?next=/incidents/x"
    for target in ("/deadletters", "/incidents/abc?status=open", "/%2F%2Fstill-a-path"):
        r = client.post("/login", data={"token": ALICE_TOKEN, "next": target})
        assert r.headers["location"] == target


def test_security_headers(client) -> None:  # type: ignore[no-untyped-def]
    login(client)
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    js = client.get("/assets/console.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/assets/../service.py").status_code == 404


def test_hostile_alert_renders_inert(client) -> None:  # type: ignore[no-untyped-def]
    story = Story(annotations=XSS)
    for out in (story.alert_received(), story.context_enriched(
            log_lines=["</pre><script>alert(2)</script>"]), story.plan_proposed(),
                story.approval_requested()):
        deliver(client, out)
    login(client)
    for page in ("/", f"/incidents/{story.key}"):
        html = client.get(page).get_data(as_text=True)
        found = tags(html)
        scripts = [a for t, a in found if t == "script"]
        assert scripts == [{"src": "/assets/console.js", "defer": None}], page
        assert not [t for t, _ in found if t in ("img", "b")], page
        assert not any(k.startswith("on") for _, a in found for k in a), page
        assert not any((a.get("href") or "").lower().startswith("javascript:")
                       for _, a in found), page
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html, page
    html = client.get(f"/incidents/{story.key}").get_data(as_text=True)
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "javascript:alert(document.cookie)" in html  # shown as text, not a link
    links = [a.get("href") for t, a in tags(html) if t == "a"]
    assert "https://grafana.example.com/d/abc?x=1&y=<2>" in links
    assert "&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html


def test_incident_page_shows_the_whole_story(client) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    t0 = datetime.now(UTC) - timedelta(minutes=2)
    steps = [story.alert_received(), story.context_enriched(), story.plan_proposed(),
             story.approval_requested()]
    for i, out in enumerate(steps):
        deliver(client, out, t0 + timedelta(seconds=5 * i))
    login(client)
    html = client.get(f"/incidents/{story.key}").get_data(as_text=True)
    for text in ("awaiting approval", "The new ReplicaSet crashes on start", "82% confident",
                 "k8s_crashloop", "k8s_rollout_stuck", "0.910", "When a new ReplicaSet appeared",
                 "rolled back (server dry run)", "env DATABASE_PASSWORD (secret)",
                 "panic: config key missing", "CrashLoopBackOff", 'id="approve"'):
        assert text in html, text
    svg = [a for t, a in tags(html) if t == "circle"]
    assert len(svg) == 4
    xs = [float(a["cx"] or 0) for a in svg]
    assert xs == sorted(xs) and xs[0] < xs[-1]
    state = client.get(f"/incidents/{story.key}/state").get_json()
    assert state["events"] == 4 and state["status"] == "awaiting approval"


def test_the_page_shows_the_llm_budget_a_plan_was_made_under(client) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    story.plan = story.plan.model_copy(update={"offline": True, "budget": TokenBudget(
        incident_limit=50_000, incident_spent=0, hour_limit=500_000, hour_spent=498_200,
        exhausted="hour")})
    for out in (story.alert_received(), story.context_enriched(), story.plan_proposed()):
        deliver(client, out)
    login(client)
    html = client.get(f"/incidents/{story.key}").get_data(as_text=True)
    assert "0 of 50000 tokens for this incident" in html
    assert "498200 of 500000 in the last hour" in html
    assert "budget per hour exhausted: planned offline" in html


def test_approve_button_needs_csrf_and_signs_as_the_logged_in_user(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    for out in (story.alert_received(), story.plan_proposed(), story.approval_requested()):
        deliver(client, out)
    login(client)
    page = client.get(f"/incidents/{story.key}").get_data(as_text=True)
    form = {"plan_id": story.plan.plan_id, "decision": "approved"}
    forged = client.post(f"/incidents/{story.key}/decide", data=form)
    assert forged.status_code == 403 and sink.received == []
    wrong = client.post(f"/incidents/{story.key}/decide", data={**form, "csrf": "x" * 43})
    assert wrong.status_code == 403
    r = client.post(f"/incidents/{story.key}/decide", data={**form, "csrf": csrf_of(page)})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=approved")
    (got,) = sink.wait_for(1)
    assert got.headers["ce-type"] == PLAN_APPROVED
    assert PlanApproved.model_validate(got.json()).approver == APPROVER


def test_logged_in_user_not_on_the_allowlist_cannot_approve(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    for out in (story.alert_received(), story.plan_proposed(), story.approval_requested()):
        deliver(client, out)
    login(client, token=MALLORY_TOKEN, name=APPROVER)  # the old form's name field: ignored
    page = client.get(f"/incidents/{story.key}").get_data(as_text=True)
    r = client.post(f"/incidents/{story.key}/decide", data={
        "plan_id": story.plan.plan_id, "decision": "approved", "csrf": csrf_of(page),
        "approver": APPROVER})
    assert r.status_code == 403 and "mallory@example.com" in r.get_data(as_text=True)
    assert "allowlist" in r.get_data(as_text=True)
    assert sink.received == []


def test_the_service_token_can_look_but_not_decide_or_log_in(client, sink) -> None:  # type: ignore[no-untyped-def]
    story = Story()
    for out in (story.alert_received(), story.plan_proposed(), story.approval_requested()):
        deliver(client, out)
    assert client.get(f"/incidents/{story.key}", headers=AUTH).status_code == 200
    r = client.post(f"/incidents/{story.key}/decide", headers=AUTH, data={
        "plan_id": story.plan.plan_id, "decision": "approved", "approver": APPROVER})
    assert r.status_code == 403 and "service token" in r.get_data(as_text=True)
    r = login(client, token=TOKEN)
    assert r.status_code == 403 and "set-cookie" not in {k.lower() for k, _ in r.headers}
    # A personal bearer token decides as its person, without a cookie (so without CSRF).
    r = client.post(f"/incidents/{story.key}/decide", headers=ALICE, data={
        "plan_id": story.plan.plan_id, "decision": "approved"})
    assert r.status_code == 303
    assert PlanApproved.model_validate(sink.wait_for(1)[0].json()).approver == APPROVER


def test_the_service_token_cannot_forge_a_login(client, sink) -> None:  # type: ignore[no-untyped-def]
    """Web logins used to be signed with a key derived from the service token, which the sweep
    CronJob holds: with it alone, a cookie naming an approver was a login."""
    from orchestrator.console.identity import Directory, Identity
    from orchestrator.console.session import COOKIE, Sessions

    story = awaiting(client)
    for material in (TOKEN, Directory.build(service_token=TOKEN).session_material()):
        forged = Sessions(material, 3600).issue(Identity(APPROVER, "token"),
                                                now=datetime.now(UTC).timestamp())
        client.set_cookie(COOKIE, forged)
        r = client.get(f"/incidents/{story.key}")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert sink.received == []


def test_list_filters_newest_first(client) -> None:  # type: ignore[no-untyped-def]
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    a = Story(fingerprint="a" * 16, start=base)
    b = Story(fingerprint="b" * 16, start=base + timedelta(minutes=30), namespace="shop")
    c = Story(fingerprint="c" * 16, start=base + timedelta(minutes=60))
    for s in (a, b, c):
        deliver(client, s.alert_received())
    deliver(client, c.escalated())
    login(client)

    def keys(query: str) -> list[str]:
        html = client.get("/" + query).get_data(as_text=True)
        return re.findall(r'href="/incidents/([^"]+)"', html)

    assert keys("") == [c.key, b.key, a.key]
    assert keys("?status=escalated") == [c.key]
    assert keys("?namespace=shop") == [b.key]
    assert keys("?status=open&namespace=payments") == [a.key]
    api = client.get("/api/incidents?status=open", headers=AUTH).get_json()["incidents"]
    assert [i["incident_key"] for i in api] == [b.key, a.key]
    assert client.get("/?status=bogus").status_code == 400


def test_logout_needs_csrf(client) -> None:  # type: ignore[no-untyped-def]
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={}).status_code == 403
    r = client.post("/logout", data={"csrf": csrf_of(page)})
    assert r.status_code == 303 and "Max-Age=0" in r.headers["set-cookie"]


def test_forged_or_expired_sessions_are_not_logged_in() -> None:
    from orchestrator.console.identity import Identity
    from orchestrator.console.session import Sessions

    s = Sessions(TOKEN, 3600)
    cookie = s.issue(Identity(APPROVER, "token"), now=1000.0)
    assert s.read(cookie, now=1000.0) == Identity(APPROVER, "session")
    assert s.read(cookie, now=1000.0 + 3601) is None
    payload, mac = cookie.split(".")
    forged = Sessions("another-token", 3600).issue(Identity("mallory", "token"),
                                                   now=1000.0).split(".")[0]
    assert s.read(f"{forged}.{mac}", now=1000.0) is None
    assert s.read(f"{payload}.{mac[:-2]}xx", now=1000.0) is None
    assert s.read("garbage", now=1000.0) is None
    # Changing the signing material (any token) logs everybody out.
    assert Sessions("rotated", 3600).read(cookie, now=1000.0) is None


def test_the_public_console_serves_people_not_the_broker(
        tmp_path: Path, console_for: Callable[..., Any]) -> None:
    """The chart exposes a second console (CONSOLE_SURFACE=public) when the console must be
    reachable from outside: it shares the audit log, but what only the broker may send (events,
    dead letters) and the sweep get 404 there, before anything is read or written."""
    story = Story()
    assert deliver(console_for(), story.alert_received()).status_code == 202
    public = console_for(CONSOLE_SURFACE="public")
    before = sorted(p.name for p in (tmp_path / "audit").rglob("*"))
    headers, body = wire(story.escalated())

    refused = [deliver(public, story.escalated()),
               public.post("/", data=body, headers=headers),
               public.post("/deadletter", data=b"{}", headers={"ce-specversion": "1.0",
                                                                "ce-type": "incident.escalated",
                                                                "ce-id": "dl-1"}),
               public.post("/sweep", headers=AUTH)]
    assert [r.status_code for r in refused] == [404] * 4
    assert "cluster-local" in refused[0].get_json()["error"]
    assert sorted(p.name for p in (tmp_path / "audit").rglob("*")) == before
    assert public.get("/healthz").status_code == 200
    assert public.get("/login").status_code == 200
    listed = public.get("/api/incidents", headers=AUTH).get_json()
    assert [i["incident_key"] for i in listed["incidents"]] == [story.key]
    __import__("orchestrator.console.service").console.service.instance.reset()

