"""The console's web pages: the incident list, one incident, the dead letters, and the login.

Server-rendered with Jinja2, autoescaping everything (alert, log and runbook text is hostile),
readable without JavaScript; the one script (a self-refresh) is a static file, because the
Content-Security-Policy allows no inline script at all. Pages need an authenticated identity
(`identity`): a login with a personal token (a signed HttpOnly SameSite=Strict cookie), the
identity header of a trusted authenticating proxy, or a bearer token; every form POST from a
cookie session carries a CSRF token. Approve / Reject go through `approvals.decide`, the same
path as the API and Slack, as the person authenticated, never a name in the form.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from orchestrator.console import api, approvals, audit, deadletters, evidence, index, pages, session
from orchestrator.console.identity import Identity
from orchestrator.console.request import Page, Request
from orchestrator.console.session import cookie_value
from orchestrator.console.status import STATUSES, Summary
from orchestrator.errors import AuthError, OrchestratorError, PermanentError
from orchestrator.handler import Response, json_response

if TYPE_CHECKING:
    import jinja2

    from orchestrator.console.service import Console

log = logging.getLogger(__name__)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff",
           "x-frame-options": "DENY", "referrer-policy": "no-referrer",
           "cache-control": "no-store"}
STATIC = {"console.css": "text/css; charset=utf-8",
          "console.js": "text/javascript; charset=utf-8"}
_DONE = {"approved": "Approved: the executor acts on it next.",
         "rejected": "Rejected: the executor will take no action.",
         "resent": "Sent to the broker again."}


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    import jinja2

    folder = resources.files("orchestrator.web") / "templates"
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def render(template: str, code: int = 200, **context: Any) -> Response:
    context.setdefault("user", "")
    context.setdefault("csrf", "")
    context.setdefault("banner", "")
    body = _env().get_template(template).render(**context).encode()
    return body, code, {"content-type": "text/html; charset=utf-8", **HEADERS}


def _redirect(location: str, headers: dict[str, str] | None = None) -> Response:
    return b"", 303, {"location": location, **HEADERS, **(headers or {})}


def _static(name: str) -> Response:
    if name not in STATIC:
        return b"not found", 404, {"content-type": "text/plain", **HEADERS}
    data = (resources.files("orchestrator.web") / "static" / name).read_bytes()
    return data, 200, {"content-type": STATIC[name], "x-content-type-options": "nosniff",
                       "cache-control": "max-age=300"}


def _safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else `/`.

    Browsers read a Location leniently: they drop tabs and newlines anywhere (so `/<TAB>/evil`
    is `//evil`), take a backslash for a slash, and a second leading slash starts a host. So
    only visible ASCII that starts with exactly one `/` and holds no backslash is followed;
    anything else, every scheme (`https:evil`) included, goes to the list page.
    """
    if not target or not all(0x21 <= ord(c) < 0x7F for c in target):
        return "/"
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def route(console: Console, req: Request) -> Response:
    from orchestrator.console.routes import table

    # Not /static/: the Flask app functions-framework builds serves that path itself.
    if req.path.startswith("/assets/"):
        return _static(req.path.removeprefix("/assets/"))
    if req.path == "/login":
        return _login(console, req)
    found = table().match(req.method, req.path)
    if found is not None and req.path.startswith("/api/"):
        found = None  # the API answers with its own authentication: not served as a page
    try:
        who, cookie, fresh = _who(console, req)
    except AuthError:
        return render("login.html", 401, error="Invalid token.", next=req.path, csrf="")
    if who is None:
        if req.method == "GET":
            return _redirect(f"/login?next={quote(req.path)}")
        return render("login.html", 401, error="Please log in.", next="/", csrf="")
    csrf = console.sessions.csrf(cookie) if cookie else ""
    ctx = {"user": who.name, "csrf": csrf, "statuses": STATUSES}
    response: Response
    try:
        form: dict[str, str] = {}
        if req.method == "POST":
            form = req.form()
            # A bearer token is never sent by a browser on its own: only cookies need CSRF.
            if cookie and not console.sessions.csrf_ok(cookie, form.get("csrf")):
                raise PermanentError("the form expired or came from another site (CSRF); "
                                     "reload the page and try again", status=403)
        if found is None:
            raise PermanentError(f"cannot POST to {req.path}" if req.method == "POST"
                                 else f"no page {req.path}", status=404)
        handler, args = found
        response = handler(Page(console, req, who, ctx, form), **args)
    except OrchestratorError as e:
        response = render("message.html", e.status, message=str(e), **ctx)
    if fresh:
        body, code, headers = response
        response = body, code, {**headers, "set-cookie": console.sessions.set_cookie(cookie or "")}
    return response


def _who(console: Console, req: Request) -> tuple[Identity | None, str | None, bool]:
    """The caller, the session cookie their forms are bound to, and whether it is new.

    The proxy's identity header, when trusted, wins: a session is bound to it (issued afresh
    when the cookie names anyone else) so that forms still carry CSRF tokens. Otherwise the
    login cookie, and a personal or service bearer token for scripts.
    """
    now = console.clock().timestamp()
    cookie = cookie_value(req.headers)
    user = console.sessions.read(cookie, now=now)
    if user is not None and cookie and session.ended(console.store, console.sessions, cookie):
        user = None  # logged out: a copy of the cookie is worth nothing
    proxied = console.people.by_header(req.headers)
    if proxied is not None:
        if user is not None and user.via == "header" and user.name == proxied.name:
            return proxied, cookie, False
        return proxied, console.sessions.issue(proxied, now=now), True
    if user is not None and user.via == "session" and console.people.tokens:
        # A login cookie stands only while personal tokens exist to sign it with: without them
        # the signing material is the service token's alone.
        return user, cookie, False
    if req.header("authorization"):
        return console.identify(req.headers), None, False
    return None, None, False


def list_page(v: Page) -> Response:
    status, namespace = v.req.query.get("status") or None, v.req.query.get("namespace") or None
    found = index.summaries(v.console.store, keep=api.keep(status, namespace))
    return render("list.html", incidents=found, status=status or "", namespace=namespace or "",
                  age=pages.age, now=v.console.clock(), refresh=v.console.refresh_seconds,
                  banner=evidence.banner(v.console.store), **v.ctx)


def trust_page(v: Page) -> Response:
    return render("trust.html", **evidence.trust_view(v.console.store, v.req.query,
                                                      thresholds=v.console.trust,
                                                      now=v.console.clock()), **v.ctx)


def letters_page(v: Page) -> Response:
    page = deadletters.list_letters(v.console.store, before=v.req.query.get("before") or None)
    return render("deadletters.html", letters=page.letters, older=page.next,
                  done=_DONE.get(v.req.query.get("done", ""), ""), **v.ctx)


def _summary(v: Page, key: str) -> Summary:
    summary = index.get(v.console.store, key)
    if summary is None:
        raise PermanentError(f"no incident {key}", status=404)
    return summary


def incident_state(v: Page, key: str) -> Response:
    summary = _summary(v, key)
    return json_response(200, {"events": summary.events, "status": summary.status,
                               "digest": summary.digest})


def incident_page(v: Page, key: str) -> Response:
    console, now = v.console, v.console.clock()
    summary = _summary(v, key)
    records = audit.read(console.store, summary.incident_key)
    open_plan = None
    if summary.approval and approvals.pending(console.store, summary.approval.plan_id,
                                              ttl=console.approvals.ttl, now=now):
        open_plan = summary.approval.plan_id
    signed = pages.view(records, verified=lambda r: approvals.signed_by_executor(
        console.approvals.keyring, r))
    return render("incident.html", s=summary, v=signed, open_plan=open_plan,
                  done=_DONE.get(v.req.query.get("done", ""), ""), safe_url=pages.safe_url,
                  age=pages.age, now=now,
                  banner=evidence.banner(console.store, summary.incident_key), **v.ctx)


def logout(v: Page) -> Response:
    session.end(v.console.store, v.console.sessions, cookie_value(v.req.headers))
    return _redirect("/login", {"set-cookie": v.console.sessions.clear_cookie()})


def resend(v: Page, letter: str) -> Response:
    deadletters.resend(v.console.store, v.console.publisher, letter, now=v.console.clock())
    return _redirect("/deadletters?done=resent")


def decide(v: Page, key: str) -> Response:
    decision = v.form.get("decision")
    if decision not in ("approved", "rejected"):
        raise PermanentError("decision must be approved or rejected")
    done = approvals.decide(v.console.approvals, plan_id=v.form.get("plan_id", ""),
                            decision=decision,  # type: ignore[arg-type]
                            approver=api.decider(v.who), comment=v.form.get("comment", ""),
                            now=v.console.clock())
    if done.incident_key != key:
        log.warning("decision posted under incident %s for a plan of %s", key,
                    done.incident_key)
    return _redirect(f"/incidents/{done.incident_key}?done={done.decision}")


def _login(console: Console, req: Request) -> Response:
    """A personal token in, a cookie naming its person out (the service token is nobody)."""
    target = _safe_next(req.query.get("next"))
    if req.method != "POST":
        return render("login.html", error="", next=target, csrf="")
    form = req.form()
    target = _safe_next(form.get("next"))
    try:
        who = console.people.by_token(form.get("token", "").strip() or None)
        if not who.is_person:
            raise PermanentError("that is the service token, which is nobody: log in with "
                                 "your personal token", status=403)
    except OrchestratorError as e:
        return render("login.html", e.status, error=str(e), next=target, csrf="")
    cookie = console.sessions.issue(who, now=console.clock().timestamp())
    log.info("web login as %s", who.name)
    return _redirect(target, {"set-cookie": console.sessions.set_cookie(cookie)})
