"""The console's JSON API (bearer token): incidents, pending approvals, decisions, dead letters.

`orchestrator approve|reject PLAN_ID` and anything scripted use it; the web page's buttons take
the same core path (`approvals.decide`). A decision answers 202 with the event it sent.

Every call is authenticated first (`identity`): a personal token reads and decides as its
person, the service token (the sweep's) reads but never decides. The approver of a decision is
the token's person; a body naming someone else is refused (403), never believed.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from orchestrator.console import approvals, audit, deadletters, index
from orchestrator.console.identity import Identity
from orchestrator.console.request import Request, Routes, rule
from orchestrator.console.status import STATUSES, Summary
from orchestrator.errors import OrchestratorError, PermanentError
from orchestrator.handler import Response, error_response, json_response
from orchestrator.limits import check_depth

if TYPE_CHECKING:
    from orchestrator.console.service import Console


def route(console: Console, req: Request) -> Response:
    try:
        who = console.identify(req.headers)
        return _route(console, req, who)
    except OrchestratorError as e:
        return error_response(e)


def keep(status: str | None, namespace: str | None) -> Any:
    if status and status not in STATUSES:
        raise PermanentError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")

    def wanted(s: Summary) -> bool:
        return (not status or s.status == status) and (not namespace or s.namespace == namespace)
    return wanted


def decider(who: Identity, claimed: object = None) -> str:
    """The approver a decision carries: the authenticated person, or a 403 saying why not."""
    if not who.is_person:
        raise PermanentError("the service token cannot approve or reject: decide with your "
                             "personal token (CONSOLE_APPROVER_TOKENS)", status=403)
    if claimed not in (None, "") and str(claimed).strip().casefold() != who.name.casefold():
        raise PermanentError(f"authenticated as {who.name!r} ({who.describe()}): a decision "
                             "cannot be made in another name", status=403)
    return who.name


def _route(console: Console, req: Request, who: Identity) -> Response:
    found = _routes().match(req.method, req.path.rstrip("/"))
    if found is None:
        raise PermanentError(f"no such endpoint {req.method} {req.path}", status=404)
    handler, args = found
    response: Response = handler(console, req, who, **args)
    return response


@lru_cache(maxsize=1)
def _routes() -> Routes:
    return Routes(
        rule("/api/incidents", _incidents, "GET"),
        rule("/api/incidents/<key:key>", _incident, "GET"),
        rule("/api/approvals", _approvals, "GET"),
        rule("/api/approvals/<key:plan_id>/<any(approve, reject):verb>", _decide, "POST"),
        rule("/api/deadletters", _letters, "GET"),
        rule("/api/deadletters/<letter:letter>", _letter, "GET"),
        rule("/api/deadletters/<letter:letter>/resend", _resend, "POST"),
    )


def _incidents(console: Console, req: Request, who: Identity) -> Response:
    found = index.summaries(console.store, keep=keep(req.query.get("status"),
                                                    req.query.get("namespace")),
                            limit=_limit(req))
    return json_response(200, {"incidents": [s.model_dump(mode="json") for s in found]})


def _incident(console: Console, req: Request, who: Identity, key: str) -> Response:
    summary = index.get(console.store, key)
    if summary is None:
        raise PermanentError(f"no incident {key!r}", status=404)
    records = audit.read(console.store, key)
    return json_response(200, {"summary": summary.model_dump(mode="json"),
                               "events": [json.loads(r.to_json()) for r in records]})


def _approvals(console: Console, req: Request, who: Identity) -> Response:
    now = console.clock()
    listing = []
    for s in index.summaries(console.store, keep=keep("awaiting approval", None)):
        one = approvals.listed(console.approvals, s.approval.plan_id,
                               now=now) if s.approval else None
        if one is not None:
            listing.append({"alertname": s.alertname, **one})
    return json_response(200, {"approvals": listing})


def _decide(console: Console, req: Request, who: Identity, plan_id: str, verb: str) -> Response:
    body = _json(req)
    done = approvals.decide(console.approvals, plan_id=plan_id,
                            decision="approved" if verb == "approve" else "rejected",
                            approver=decider(who, body.get("approver")),
                            comment=str(body.get("comment") or ""), now=console.clock())
    return json_response(202, done.as_json())


def _letters(console: Console, req: Request, who: Identity) -> Response:
    page = deadletters.list_letters(console.store, limit=_limit(req, 50, 200),
                                    before=req.query.get("before") or None)
    return json_response(200, page.as_json())


def _letter(console: Console, req: Request, who: Identity, letter: str) -> Response:
    return json_response(200, deadletters.show_letter(console.store, letter))


def _resend(console: Console, req: Request, who: Identity, letter: str) -> Response:
    return json_response(202, deadletters.resend(console.store, console.publisher, letter,
                                                 now=console.clock()))


def _limit(req: Request, default: int = 200, most: int = 5000) -> int:
    try:
        return max(1, min(int(req.query.get("limit", str(default))), most))
    except ValueError as e:
        raise PermanentError("limit must be a number") from e


def _json(req: Request) -> dict[str, Any]:
    if len(req.body) > 64 * 1024:
        raise PermanentError("body too large", status=413)
    check_depth(req.body)
    try:
        doc = json.loads(req.body or b"{}")
    except ValueError as e:
        raise PermanentError(f"body is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise PermanentError("body must be a JSON object")
    return doc
