"""Human decisions on approval requests: the one path Slack, the HTTP API, the CLI and the web
page all take.

A decision is accepted only from an allowlisted approver, for the latest request of a plan that
is still awaiting approval (not decided, not expired, its alert not resolved). It becomes
`incident.plan.approved` / `.rejected` carrying the executor-signed plan verbatim plus the
approver, the time and the console's signature, POSTed to the broker. A create-only decision
marker makes it stick: a double click (or a retry after the broker was down) re-sends the very
same event, and the opposite decision afterwards is refused.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from orchestrator import audit_layout, events, telemetry
from orchestrator.adapters.broker import Publisher
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.console import audit
from orchestrator.console.status import status_of
from orchestrator.envelope import Outgoing
from orchestrator.errors import PermanentError, TransientError
from orchestrator.events import APPROVAL_REQUESTED, PLAN_APPROVED, PLAN_REJECTED
from orchestrator.ids import event_id
from orchestrator.provenance import Keyring, Signer
from orchestrator.signing import decision_payload, request_payload, sign, verify

if TYPE_CHECKING:  # the approval payloads load with their first use (cold start)
    from orchestrator.events import ApprovalRequested

log = logging.getLogger(__name__)

STAGE = "console"
PLANS = "plans"
DECISIONS = "decisions"
MAX_COMMENT = 1000
Verdict = Literal["approved", "rejected"]


@dataclass(frozen=True)
class Decided:
    plan_id: str
    incident_key: str
    decision: Verdict
    approver: str
    decided_at: str
    event_id: str
    repeated: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"plan_id": self.plan_id, "incident_key": self.incident_key,
                "decision": self.decision, "approver": self.approver,
                "decided_at": self.decided_at, "event_id": self.event_id,
                "repeated": self.repeated}


@dataclass(frozen=True)
class Approvals:
    """What deciding needs: the log, the broker, the console's key and the executor's public
    key, the allowlist, the TTL."""

    store: ObjectStore
    publisher: Publisher | None
    signer: Signer | None
    approvers: tuple[str, ...]
    ttl: timedelta
    keyring: Keyring = Keyring({})

    def allowed(self, approver: str) -> bool:
        wanted = approver.strip().casefold()
        return bool(wanted) and any(a.casefold() == wanted for a in self.approvers)


def register_plan(store: ObjectStore, plan_id: str, incident: str) -> None:
    """Remember which incident a plan belongs to, so a decision can name the plan alone."""
    if audit_layout.safe_name(plan_id):
        store.put(f"{PLANS}/{plan_id}", incident.encode(), content_type="text/plain",
                  if_absent=True)


def find_request(store: ObjectStore, plan_id: str) -> tuple[audit.Record, ApprovalRequested,
                                                            list[audit.Record]] | None:
    """The latest approval request for a plan, with all its incident's records."""
    if not audit_layout.safe_name(plan_id):
        return None
    raw = store.get(f"{PLANS}/{plan_id}")
    if raw is None:
        return None
    records = audit.read(store, raw.decode())
    latest: tuple[audit.Record, ApprovalRequested] | None = None
    for r in records:
        if r.type != APPROVAL_REQUESTED or not isinstance(r.data, dict):
            continue
        try:
            req = events.ApprovalRequested.model_validate(r.data)
        except ValidationError as e:
            log.warning("approval request %s unreadable: %s", r.id, e.errors()[0]["msg"])
            continue
        if req.plan.plan_id == plan_id and (latest is None
                                            or req.requested_at >= latest[1].requested_at):
            latest = (r, req)
    return None if latest is None else (latest[0], latest[1], records)


def signed_by_executor(keyring: Keyring, req: ApprovalRequested) -> bool:
    """Does the executor's signature cover exactly this request (what a human is shown)?"""
    return verify(keyring, "executor", request_payload(req), req.signature)


def expires_at(req: ApprovalRequested, ttl: timedelta) -> datetime:
    return min(req.expires_at, req.requested_at + ttl)


def decide(a: Approvals, *, plan_id: str, decision: Verdict, approver: str, comment: str = "",
           now: datetime) -> Decided:
    """Turn a human's decision into the signed event on the broker (or refuse it, saying why)."""
    approver = approver.strip()
    if not a.allowed(approver):
        raise PermanentError(f"{approver or 'an anonymous caller'!r} is not on the console's "
                             "approver allowlist (CONSOLE_APPROVERS)", status=403)
    found = find_request(a.store, plan_id)
    if found is None:
        raise PermanentError(f"no approval request for plan {plan_id!r}", status=404)
    record, req, records = found
    attrs = {"incident.key": req.incident_key, "orchestrator.plan_id": plan_id,
             "orchestrator.decision": decision}
    with telemetry.resumed(STAGE, f"{STAGE} decide", carrier=record.trace(),
                           attributes=attrs) as span:
        done = _decide(a, record, req, records, decision=decision, approver=approver,
                       comment=comment, now=now, trace=span.passed_on)
        span.outcome("repeated" if done.repeated else
                     PLAN_APPROVED if decision == "approved" else PLAN_REJECTED)
    return done


def _decide(a: Approvals, record: audit.Record, req: ApprovalRequested,
            records: list[audit.Record], *, decision: Verdict, approver: str, comment: str,
            now: datetime, trace: dict[str, str]) -> Decided:
    plan_id = req.plan.plan_id
    if not signed_by_executor(a.keyring, req):
        raise PermanentError(f"the approval request for plan {plan_id} does not carry a valid "
                             "executor signature over what it shows: it cannot be approved",
                             status=409)
    marker = f"{DECISIONS}/{plan_id}/{audit_layout.stamp(req.requested_at)}.json"
    earlier = _earlier(a, marker, plan_id, req, decision)
    if earlier is not None:
        return earlier
    status, decisive = status_of(records)
    if status != "awaiting approval" or decisive is None or decisive.id != record.id:
        why = {"resolved": "the alert resolved, so the approval was cancelled",
               "escalated": "the incident was escalated (the request expired or was "
                            "answered)"}.get(status, f"the incident is {status}")
        raise PermanentError(f"plan {plan_id} is not awaiting approval: {why}", status=409)
    if now > expires_at(req, a.ttl):
        raise PermanentError(f"the approval request for plan {plan_id} expired at "
                             f"{expires_at(req, a.ttl).isoformat()}", status=409)
    if a.signer is None:
        raise TransientError("the console has no signing key (CONSOLE_SIGNING_KEY): it cannot "
                             "sign decisions")
    if a.publisher is None:
        raise TransientError("no broker URL configured (K_SINK or CONSOLE_BROKER_URL)")
    out = _event(a.signer, record, req, decision=decision, approver=approver,
                 comment=comment[:MAX_COMMENT], now=now, trace=trace)
    headers, body = a.signer.encode(out)
    stored = {"decision": decision, "approver": approver, "decided_at": now.isoformat(),
              "event_id": out.id, "incident_key": req.incident_key, "headers": headers,
              "body": body.decode()}
    if not a.store.put(marker, json.dumps(stored).encode(), if_absent=True):
        earlier = _earlier(a, marker, plan_id, req, decision)
        if earlier is not None:
            return earlier
    a.publisher.publish(headers, body)
    log.info("plan %s %s by %s (event %s)", plan_id, decision, approver, out.id)
    return Decided(plan_id, req.incident_key, decision, approver, now.isoformat(), out.id)


def _earlier(a: Approvals, marker: str, plan_id: str, req: ApprovalRequested,
             decision: Verdict) -> Decided | None:
    """A decision already taken on this request: the same one is re-sent, another refused."""
    raw = a.store.get(marker)
    if raw is None:
        return None
    prior = json.loads(raw)
    if prior["decision"] != decision:
        raise PermanentError(f"plan {plan_id} was already {prior['decision']} by "
                             f"{prior['approver']} at {prior['decided_at']}", status=409)
    if a.publisher is None:
        raise TransientError("no broker URL configured (K_SINK or CONSOLE_BROKER_URL)")
    # Re-sent byte for byte: if the first POST was lost, this one counts; if not, the executor
    # sees the same event id again.
    a.publisher.publish(prior["headers"], prior["body"].encode())
    return Decided(plan_id, req.incident_key, decision, prior["approver"], prior["decided_at"],
                   prior["event_id"], repeated=True)


def _event(signer: Signer, record: audit.Record, req: ApprovalRequested, *, decision: Verdict,
           approver: str, comment: str, now: datetime, trace: dict[str, str]) -> Outgoing:
    signature = sign(signer, decision_payload(executor_signature=req.signature, decision=decision,
                                           approver=approver, decided_at=now))
    model = events.PlanApproved if decision == "approved" else events.PlanRejected
    data = model(**req.shown(), executor_signature=req.signature,
                 approver=approver, decided_at=now, console_signature=signature, comment=comment)
    # The request time is part of the id: when the executor asks again for the same plan (its
    # first request went stale), the new decision must not look like a redelivery of the old.
    input_id = f"{req.plan.plan_id}|{decision}|{req.requested_at.isoformat()}"
    pkey = record.partitionkey or (req.plan.actions[0].target.key if req.plan.actions else None)
    return Outgoing(type=PLAN_APPROVED if decision == "approved" else PLAN_REJECTED,
                    id=event_id(req.incident_key, STAGE, input_id), function=STAGE,
                    incident_key=req.incident_key, data=data, partition_key=pkey, extra=trace)


def pending(store: ObjectStore, plan_id: str, *, ttl: timedelta, now: datetime) -> bool:
    """Is this plan's latest request still open for a decision?"""
    found = find_request(store, plan_id)
    return found is not None and _open(found, ttl, now)


def _open(found: tuple[audit.Record, ApprovalRequested, list[audit.Record]], ttl: timedelta,
          now: datetime) -> bool:
    record, req, records = found
    status, decisive = status_of(records)
    return (status == "awaiting approval" and decisive is not None
            and decisive.id == record.id and now <= expires_at(req, ttl))


UNVERIFIED = ("it does not carry a valid executor signature over what it shows: not shown, "
              "cannot be approved")


def listed(a: Approvals, plan_id: str, *, now: datetime) -> dict[str, Any] | None:
    """A pending request as the API lists it, or None when it is not pending.

    The same rule as the page: a request whose executor signature verifies is listed with the
    signed content only (actions, parameters, dry runs, why, expiry); one that does not is
    flagged `verified: false`, with nothing of its content, since none of it is vouched for.
    """
    found = find_request(a.store, plan_id)
    if found is None or not _open(found, a.ttl, now):
        return None
    record, req, _ = found
    base = {"plan_id": plan_id, "event_id": record.id, "incident_key": req.incident_key}
    if not signed_by_executor(a.keyring, req):
        return {**base, "verified": False, "approvable": False, "unverified": UNVERIFIED}
    return {**base, "verified": True, "approvable": True,
            "requested_at": req.requested_at.isoformat(),
            "expires_at": expires_at(req, a.ttl).isoformat(), "why": req.why,
            "target": req.plan.actions[0].target.key if req.plan.actions else "",
            "actions": [{"type": x.type, "target": x.target.key, "parameters": x.parameters}
                        for x in req.plan.actions],
            "dry_runs": [{"type": r.action.type, "target": r.action.target.key,
                          "outcome": r.outcome} for r in req.dry_runs]}
