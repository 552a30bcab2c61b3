"""What each MCP tool does, as plain functions over the console: no SDK here, so tests call them
directly and the HTTP API and this module visibly share one core.

Reads come from the audit log and its index exactly as `/api/*` reads them; a decision goes
through `approvals.decide`, the path the API, the web page and Slack take, with the person the
caller's token names (never a name the assistant typed: a model must not choose who approves).
Every answer is JSON-ready; alert, log and runbook text in it is data for the assistant to
show, which the tool descriptions say.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.console import api, approvals, audit, index, pages
from orchestrator.console.status import Summary
from orchestrator.errors import PermanentError
from orchestrator.times import rfc3339_or_none

if TYPE_CHECKING:
    from orchestrator.console.service import Console
    from orchestrator.knowledge.search import Retriever

log = logging.getLogger(__name__)

_SPAN = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
MAX_LIMIT = 500


@dataclass(frozen=True)
class Caller:
    """Who is calling: `person` is None when the token authenticates but names nobody (the
    console's service token): such a caller may read, never decide."""

    person: str | None


def since_of(since: str | None, now: datetime) -> datetime | None:
    """`since` as a time: ISO-8601 (`2026-12-07T08:00:00Z`) or a span back from now (`90m`)."""
    if not since:
        return None
    text = since.strip()
    if m := _SPAN.match(text):
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    when = rfc3339_or_none(text, naive_as_utc=True)
    if when is None:
        raise PermanentError(f"since must be an ISO-8601 time or a span like 30m, 2h, 7d; got "
                             f"{since[:40]!r}")
    return when


def list_incidents(console: Console, *, status: str | None = None,
                   namespace: str | None = None, since: str | None = None,
                   limit: int = 50) -> dict[str, Any]:
    """Newest first, filtered as `GET /api/incidents` filters, plus a start time."""
    after = since_of(since, console.clock())
    keep_api = api.keep(status or None, namespace or None)

    def keep(s: Summary) -> bool:
        started = s.started_at or s.updated_at
        return keep_api(s) and (after is None or (started is not None and started >= after))
    found = index.summaries(console.store, keep=keep, limit=max(1, min(limit, MAX_LIMIT)))
    return {"incidents": [s.model_dump(mode="json") for s in found]}


def get_incident(console: Console, *, incident_key: str) -> dict[str, Any]:
    """One incident: its summary, the timeline, and the latest context, plan and verdict."""
    summary = index.get(console.store, incident_key)
    if summary is None:
        raise PermanentError(f"no incident {incident_key!r}", status=404)
    records = audit.read(console.store, summary.incident_key)
    v = _view(console, records)
    t0 = records[0].when if records else None
    timeline = [{"time": r.time, "offset_seconds": round((r.when - t0).total_seconds(), 3)
                 if t0 else 0.0, "type": r.type, "stage": r.source.rsplit("/", 1)[-1],
                 "event_id": r.id} for r in records]
    return {
        "summary": summary.model_dump(mode="json"),
        "timeline": timeline,
        "context": v.context.model_dump(mode="json") if v.context is not None else None,
        "plan": v.proposed.plan.model_dump(mode="json") if v.proposed is not None else None,
        "dry_runs": [d.model_dump(mode="json") for d in v.dry_runs],
        "verdict": _verdict(summary, v),
    }


def _view(console: Console, records: list[Any]) -> pages.IncidentView:
    """The incident page's reading of the log: only approval requests the executor signed are
    shown as such (its signature covers what a human is asked to approve)."""
    return pages.view(records, verified=lambda req: approvals.signed_by_executor(
        console.approvals.keyring, req))


def _verdict(summary: Summary, v: pages.IncidentView) -> dict[str, Any]:
    """Where the incident ended up, and who or what decided it."""
    out: dict[str, Any] = {"status": summary.status, "reason": summary.reason}
    if v.decisions:
        decision, d = v.decisions[-1]
        out["decision"] = {"decision": decision, "approver": d.approver,
                           "decided_at": d.decided_at.isoformat(), "comment": d.comment}
    if v.results:
        kind, res = v.results[-1]
        out["result"] = {"event": kind, "mode": res.mode,
                         "outcomes": [r.outcome for r in res.results]}
    if v.resolved is not None:
        out["resolved"] = {"how": v.resolved.how, "detail": v.resolved.detail}
    if v.escalations:
        e = v.escalations[-1]
        out["escalated"] = {"stage": e.stage, "reason": e.reason, "detail": e.detail}
    return out


def list_pending_approvals(console: Console) -> dict[str, Any]:
    """Plans awaiting a human decision now (not decided, not expired, alert still firing)."""
    now = console.clock()
    pending = [s for s in index.summaries(console.store, keep=api.keep("awaiting approval", None))
               if s.approval and approvals.pending(console.store, s.approval.plan_id,
                                                   ttl=console.approvals.ttl, now=now)]
    out = []
    for s in pending:
        assert s.approval is not None
        found = approvals.find_request(console.store, s.approval.plan_id)
        req = found[1] if found and approvals.signed_by_executor(console.approvals.keyring,
                                                                  found[1]) else None
        out.append({"incident_key": s.incident_key, "alertname": s.alertname,
                    "target": s.target, **s.approval.model_dump(mode="json"),
                    "expires_at": approvals.expires_at(req, console.approvals.ttl).isoformat()
                    if req else s.approval.expires_at.isoformat(),
                    "hypothesis": req.plan.hypothesis if req else "",
                    "why_approval": req.why if req else "",
                    "actions": [d.model_dump(mode="json") for d in req.dry_runs] if req else []})
    return {"approvals": out}


def who_am_i(console: Console, caller: Caller) -> dict[str, Any]:
    """The person this connection's token names, and whether they may decide (allowlist)."""
    allowed = caller.person is not None and console.approvals.allowed(caller.person)
    return {"person": caller.person, "allowed": allowed}


def decide(console: Console, caller: Caller, *, plan_id: str,
           decision: Literal["approved", "rejected"], comment: str = "") -> dict[str, Any]:
    """Approve or reject as the person the caller's token names, through `approvals.decide`."""
    if caller.person is None:
        raise PermanentError("this token names no person, so it cannot decide: connect with "
                             "your personal token (CONSOLE_APPROVER_TOKENS; `orchestrator mcp "
                             "--token-file`)",
                             status=403)
    log.info("MCP: %s decides %s on plan %s", caller.person, decision, plan_id[:80])
    done = approvals.decide(console.approvals, plan_id=plan_id, decision=decision,
                            approver=caller.person, comment=comment, now=console.clock())
    return done.as_json()


def explain_refusal(console: Console, *, incident_key: str) -> dict[str, Any]:
    """Why no action ran on its own: escalations, refused or failed actions, rejections and the
    approval requests' reasons, in the order the audit log holds them."""
    summary = index.get(console.store, incident_key)
    if summary is None:
        raise PermanentError(f"no incident {incident_key!r}", status=404)
    v = _view(console, audit.read(console.store, summary.incident_key))
    reasons: list[dict[str, Any]] = []
    for req in v.requests:
        reasons.append({"kind": "approval-required", "stage": "executor", "why": req.why,
                        "plan_id": req.plan.plan_id,
                        "requested_at": req.requested_at.isoformat()})
    for kind, res in v.results:
        for r in res.results:
            if res.mode == "dry-run":
                reasons.append({"kind": "dry-run-mode", "stage": "executor",
                                "action": r.action.type, "target": r.action.target.key,
                                "why": r.api_result or "the executor's policy mode is dry-run: "
                                                       "nothing was changed"})
            elif r.outcome in ("refused", "failed"):
                reasons.append({"kind": f"action-{r.outcome}", "stage": "executor",
                                "action": r.action.type, "target": r.action.target.key,
                                "why": r.api_result or r.dry_run or getattr(res, "error", "")})
        if kind == "failed":
            reasons.append({"kind": "action-failed", "stage": "executor", "why": res.error})
    for decision, d in v.decisions:
        if decision == "rejected":
            reasons.append({"kind": "rejected", "stage": "console", "approver": d.approver,
                            "why": d.comment or "rejected without a comment"})
    for e in v.escalations:
        reasons.append({"kind": "escalated", "stage": e.stage, "reason": e.reason,
                        "why": e.detail})
    return {"incident_key": summary.incident_key, "status": summary.status,
            "refused": bool(reasons) and summary.status != "resolved", "reasons": reasons}


# --- the knowledge base ------------------------------------------------------------------------

@lru_cache(maxsize=1)
def retriever() -> Retriever:
    """The agent's own retrieval over the raw runbooks (MinIO or the folder), plus a Qdrant
    server when one is configured; never the local Qdrant folder, which one process at a time
    may open and the agent holds."""
    from orchestrator.knowledge import wiring
    from orchestrator.knowledge.search import Retriever
    from orchestrator.settings.knowledge import KnowledgeSettings

    s = KnowledgeSettings.from_env()
    parts = wiring.retriever_parts(s)  # the agent's own pieces and thresholds
    if not s.qdrant_url:
        parts.update(connect=None, embedder=None)
    return Retriever(**parts)


def search_runbooks(*, query: str = "", alertname: str = "", labels: dict[str, str] | None = None,
                    top: int = 5) -> dict[str, Any]:
    """Rank runbooks for a described alert with the agent's retrieval (empty: none applies)."""
    from orchestrator.events import Alert

    if not (query.strip() or alertname.strip()):
        raise PermanentError("give a query (what is wrong) or an alertname")
    alert = Alert(status="firing", labels={**(labels or {}), "alertname": alertname.strip()},
                  annotations={"summary": query.strip()} if query.strip() else {},
                  starts_at=datetime(1970, 1, 1, tzinfo=UTC), fingerprint="mcp-search")
    hits = retriever().search(alert, top=max(1, min(top, 20)))
    return {"runbooks": [{"runbook": h.runbook, "score": h.score, "heading": h.heading,
                          "retriever": h.retriever, "uri": f"runbook://{h.runbook}"}
                         for h in hits]}


def runbook_ids() -> list[tuple[str, str]]:
    """(id, title) of every readable runbook."""
    return [(rb.id, rb.title) for rb in retriever().source.all()]


def runbook_text(runbook_id: str) -> str:
    """A runbook as markdown: its title, the alerts it covers, then its body."""
    rb = retriever().runbook(runbook_id)
    if rb is None:
        raise PermanentError(f"no runbook {runbook_id!r}", status=404)
    covers = f"Alerts: {', '.join(rb.alerts)}\n\n" if rb.alerts else ""
    return f"# {rb.title}\n\n{covers}{rb.body}"
