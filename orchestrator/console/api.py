"""The console's JSON API (bearer token): incidents, pending approvals, decisions, dead letters.

`orchestrator approve|reject PLAN_ID` and anything scripted use it; the web page's buttons take
the same core path (`approvals.decide`). A decision answers 202 with the event it sent.

Every call is authenticated first (`identity`): a personal token reads and decides as its
person, the service token (the sweep's) reads but never decides. The approver of a decision is
the token's person; a body naming someone else is refused (403), never believed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orchestrator.console import approvals, audit, deadletters, index
from orchestrator.console.identity import Identity
from orchestrator.console.request import Request, Visit
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
    from orchestrator.console.routes import table

    found = table().match(req.method, req.path.rstrip("/"))
    if found is None or not req.path.startswith("/api/"):
        raise PermanentError(f"no such endpoint {req.method} {req.path}", status=404)
    handler, args = found
    response: Response = handler(Visit(console, req, who), **args)
    return response


def incidents(v: Visit) -> Response:
    found = index.summaries(v.console.store, keep=keep(v.req.query.get("status"),
                                                      v.req.query.get("namespace")),
                            limit=_limit(v.req))
    return json_response(200, {"incidents": [s.model_dump(mode="json") for s in found]})


def incident(v: Visit, key: str) -> Response:
    summary = index.get(v.console.store, key)
    if summary is None:
        raise PermanentError(f"no incident {key!r}", status=404)
    records = audit.read(v.console.store, key)
    return json_response(200, {"summary": summary.model_dump(mode="json"),
                               "events": [json.loads(r.to_json()) for r in records]})


def pending(v: Visit) -> Response:
    now = v.console.clock()
    listing = []
    for s in index.summaries(v.console.store, keep=keep("awaiting approval", None)):
        one = approvals.listed(v.console.approvals, s.approval.plan_id,
                               now=now) if s.approval else None
        if one is not None:
            listing.append({"alertname": s.alertname, **one})
    return json_response(200, {"approvals": listing})


def decide(v: Visit, plan_id: str, verb: str) -> Response:
    body = _json(v.req)
    done = approvals.decide(v.console.approvals, plan_id=plan_id,
                            decision="approved" if verb == "approve" else "rejected",
                            approver=decider(v.who, body.get("approver")),
                            comment=str(body.get("comment") or ""), now=v.console.clock())
    return json_response(202, done.as_json())


def letters(v: Visit) -> Response:
    page = deadletters.list_letters(v.console.store, limit=_limit(v.req, 50, 200),
                                    before=v.req.query.get("before") or None)
    return json_response(200, page.as_json())


def letter(v: Visit, letter: str) -> Response:
    """One dead letter as JSON (the web page links the same document)."""
    return json_response(200, deadletters.show_letter(v.console.store, letter))


def resend(v: Visit, letter: str) -> Response:
    return json_response(202, deadletters.resend(v.console.store, v.console.publisher, letter,
                                                 now=v.console.clock()))


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
