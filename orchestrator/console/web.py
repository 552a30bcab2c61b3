"""The console's web pages: the incident list, one incident, the dead letters, and the login.

Server-rendered with Jinja2, autoescaping everything (alert, log and runbook text is hostile),
readable without JavaScript; the one script (a self-refresh) is a static file, because the
Content-Security-Policy allows no inline script at all. Pages need a login (a signed HttpOnly
SameSite=Strict cookie) or the API bearer token; every form POST carries a CSRF token. Approve /
Reject go through `approvals.decide`, the same path as the API and Slack.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from orchestrator.console import api, approvals, audit, deadletters, index, pages, session
from orchestrator.console.request import Request
from orchestrator.console.session import cookie_value
from orchestrator.console.status import STATUSES
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
_INCIDENT = re.compile(r"^/incidents/([A-Za-z0-9._-]+)(/state|/decide)?$")
_RESEND = re.compile(r"^/deadletters/([a-z0-9]+)/resend$")
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
    # Only our own absolute paths: `//evil.example` and `https://…` are off-site redirects.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def route(console: Console, req: Request) -> Response:
    path = req.path
    # Not /static/: the Flask app functions-framework builds serves that path itself.
    if path.startswith("/assets/"):
        return _static(path.removeprefix("/assets/"))
    if path == "/login":
        return _login(console, req)
    cookie = cookie_value(req.headers)
    user = console.sessions.read(cookie, now=console.clock().timestamp())
    if user is not None and cookie and session.ended(console.store, console.sessions, cookie):
        user = None  # logged out: a copy of the cookie is worth nothing
    bearer = False
    if user is None and req.header("authorization"):
        try:
            console.check_bearer(req.headers)
        except AuthError:
            return render("login.html", 401, error="Invalid token.", next=path, csrf="")
        user, bearer = "", True
    if user is None:
        if req.method == "GET":
            return _redirect(f"/login?next={quote(path)}")
        return render("login.html", 401, error="Please log in.", next="/", csrf="")
    csrf = console.sessions.csrf(cookie) if cookie and not bearer else ""
    ctx = {"user": user, "csrf": csrf, "statuses": STATUSES}
    try:
        if req.method == "POST":
            form = req.form()
            if not bearer and not console.sessions.csrf_ok(cookie, form.get("csrf")):
                raise PermanentError("the form expired or came from another site (CSRF); "
                                     "reload the page and try again", status=403)
            return _post(console, req, form, user or form.get("approver", ""), ctx)
        return _get(console, req, ctx)
    except OrchestratorError as e:
        return render("message.html", e.status, message=str(e), **ctx)


def _get(console: Console, req: Request, ctx: dict[str, Any]) -> Response:
    now = console.clock()
    if req.path in ("/", "/incidents"):
        status, namespace = req.query.get("status") or None, req.query.get("namespace") or None
        found = index.summaries(console.store, keep=api.keep(status, namespace))
        return render("list.html", incidents=found, status=status or "",
                      namespace=namespace or "", age=pages.age, now=now,
                      refresh=console.refresh_seconds, **ctx)
    if req.path == "/deadletters":
        return render("deadletters.html", letters=deadletters.list_letters(console.store),
                      done=_DONE.get(req.query.get("done", ""), ""), **ctx)
    m = _INCIDENT.match(req.path)
    if m is None or m.group(2) == "/decide":
        raise PermanentError(f"no page {req.path}", status=404)
    summary = index.get(console.store, m.group(1))
    if summary is None:
        raise PermanentError(f"no incident {m.group(1)}", status=404)
    if m.group(2) == "/state":
        return json_response(200, {"events": summary.events, "status": summary.status,
                                   "digest": summary.digest})
    records = audit.read(console.store, summary.incident_key)
    open_plan = None
    if summary.approval and approvals.pending(console.store, summary.approval.plan_id,
                                              ttl=console.approvals.ttl, now=now):
        open_plan = summary.approval.plan_id
    signed = pages.view(records, verified=lambda r: approvals.signed_by_executor(
        console.approvals.keyring, r))
    return render("incident.html", s=summary, v=signed, open_plan=open_plan,
                  done=_DONE.get(req.query.get("done", ""), ""), safe_url=pages.safe_url,
                  age=pages.age, now=now, **ctx)


def _post(console: Console, req: Request, form: dict[str, str], approver: str,
          ctx: dict[str, Any]) -> Response:
    now = console.clock()
    if req.path == "/logout":
        session.end(console.store, console.sessions, cookie_value(req.headers))
        return _redirect("/login", {"set-cookie": console.sessions.clear_cookie()})
    if m := _RESEND.match(req.path):
        deadletters.resend(console.store, console.publisher, m.group(1), now=now)
        return _redirect("/deadletters?done=resent")
    m = _INCIDENT.match(req.path)
    if m is None or m.group(2) != "/decide":
        raise PermanentError(f"cannot POST to {req.path}", status=404)
    decision = form.get("decision")
    if decision not in ("approved", "rejected"):
        raise PermanentError("decision must be approved or rejected")
    done = approvals.decide(console.approvals, plan_id=form.get("plan_id", ""),
                            decision=decision,  # type: ignore[arg-type]
                            approver=approver, comment=form.get("comment", ""), now=now)
    if done.incident_key != m.group(1):
        log.warning("decision posted under incident %s for a plan of %s", m.group(1),
                    done.incident_key)
    return _redirect(f"/incidents/{done.incident_key}?done={done.decision}")


def _login(console: Console, req: Request) -> Response:
    target = _safe_next(req.query.get("next"))
    if req.method != "POST":
        return render("login.html", error="", next=target, csrf="")
    form = req.form()
    target = _safe_next(form.get("next"))
    name = form.get("name", "").strip()
    try:
        if not name or len(name) > 200:
            raise PermanentError("enter your name as the approver allowlist spells it")
        console.check_bearer({"authorization": f"Bearer {form.get('token', '')}"})
    except OrchestratorError as e:
        return render("login.html", e.status, error=str(e), next=target, csrf="")
    cookie = console.sessions.issue(name, now=console.clock().timestamp())
    log.info("web login as %s", name)
    return _redirect(target, {"set-cookie": console.sessions.set_cookie(cookie)})
