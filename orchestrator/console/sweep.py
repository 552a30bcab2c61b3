"""The sweep: the console's only clock-driven work (`POST /sweep`, from the chart's CronJob
running `orchestrator sweep` at most every 10 minutes, and from `orchestrator up`).

It expires approval requests nobody answered in time (`incident.escalated`, reason
`approval-expired`, and the Slack message loses its buttons), escalates incidents stuck in one
state longer than `stale_after` (reason `stale`), and forgets Slack replay markers older than
their window and logout records of cookies that have expired anyway. It also seals the audit
log's finished days, deletes the days past retention (`orchestrator.console.seal`), and checks
the last two days' chain, saving the verdict the incident list's banner shows. Escalations are
POSTed to the broker with ids derived from what they are about, so a sweep that runs twice (or
fails half-way and is retried) escalates nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from orchestrator import telemetry
from orchestrator.adapters.broker import Publisher
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.console import approvals, audit, index, notify, seal, session, slack, verify
from orchestrator.console.status import Summary
from orchestrator.envelope import Outgoing, to_binary
from orchestrator.errors import TransientError
from orchestrator.events import ESCALATED, Alert, Escalated, EscalationReason
from orchestrator.ids import event_id
from orchestrator.provenance import Keyring, Signer

log = logging.getLogger(__name__)
STAGE = "console"


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    checked: int = 0
    forgotten: int = 0
    audit: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"expired": self.expired, "stale": self.stale, "checked": self.checked,
                "forgotten_replay_markers": self.forgotten, "audit": self.audit}


def sweep(*, store: ObjectStore, publisher: Publisher | None, notifier: notify.Notifier,
          ttl: timedelta, stale_after: timedelta, now: datetime, audit_signer: Signer | None = None,
          audit_keyring: Keyring | None = None,
          audit_policy: seal.Policy | None = None) -> SweepReport:
    report = SweepReport()
    live = index.summaries(store, keep=lambda s: s.status not in ("resolved", "escalated"),
                           limit=100_000, scan=100_000)
    for cached in live:
        # The index is a cache: decide on the log as it is now.
        s = index.refresh(store, cached.incident_key)
        report.checked += 1
        if s.status in ("resolved", "escalated"):
            continue
        if s.status == "awaiting approval" and s.approval is not None:
            _expire(store, publisher, notifier, s, ttl=ttl, now=now, report=report)
        elif s.updated_at is not None and now - s.updated_at > stale_after:
            hours = (now - s.updated_at).total_seconds() / 3600
            _escalate(publisher, s, "stale", f"no progress for {hours:.1f} h while "
                      f"{s.status}: the loop stopped somewhere (see the dead letters)",
                      input_id=f"stale|{s.digest}", alert=_alert(store, s.incident_key),
                      plan_id=s.plan_id, pkey=None)
            report.stale.append(s.incident_key)
    report.forgotten = slack.forget_seen(store, now=now.timestamp())
    report.forgotten += session.forget_ended(store, now=now.timestamp())
    report.audit = _audit(store, signer=audit_signer, keyring=audit_keyring,
                          policy=audit_policy or seal.Policy(), now=now)
    if report.expired or report.stale:
        log.info("sweep: %d approval(s) expired, %d stale incident(s) escalated",
                 len(report.expired), len(report.stale))
    return report


def _audit(store: ObjectStore, *, signer: Signer | None, keyring: Keyring | None,
           policy: seal.Policy, now: datetime) -> dict[str, Any]:
    """Seal the finished days, delete the expired ones, and check the last two days."""
    if signer is None:
        log.warning("no CONSOLE_SIGNING_KEY: audit days are neither sealed nor expired")
        return {"sealed": [], "error": "no signing key"}
    done = seal.seal(store, signer=signer, now=now, grace=policy.grace)
    if policy.keep_days:
        seal.expire(store, signer=signer, now=now, keep_days=policy.keep_days, report=done)
    checked = verify.verify(store, keyring=keyring, since=now - timedelta(days=1), now=now)
    verify.save_status(store, checked, now=now)
    if not checked.ok and checked.first is not None:
        log.error("audit chain broken (%d break(s)); first: %s at %s: %s",
                  len(checked.breaks), checked.first.kind, checked.first.where,
                  checked.first.detail)
    return {**done.as_json(), "chain_ok": checked.ok, "breaks": len(checked.breaks)}


def _expire(store: ObjectStore, publisher: Publisher | None, notifier: notify.Notifier,
            s: Summary, *, ttl: timedelta, now: datetime, report: SweepReport) -> None:
    assert s.approval is not None
    found = approvals.find_request(store, s.approval.plan_id)
    if found is None:
        return
    record, req, _ = found
    expiry = approvals.expires_at(req, ttl)
    if now <= expiry:
        return
    # Nobody's answer is an answer too: the escalation continues the request's trace.
    with telemetry.resumed(STAGE, f"{STAGE} expire", carrier=record.trace(), attributes={
            "incident.key": req.incident_key, "orchestrator.plan_id": req.plan.plan_id}) as span:
        _escalate(publisher, s, "approval-expired",
                  f"nobody approved or rejected plan {req.plan.plan_id} before "
                  f"{expiry.isoformat()}; no action was taken",
                  input_id=f"approval-expired|{req.plan.plan_id}|{req.requested_at.isoformat()}",
                  alert=req.alert, plan_id=req.plan.plan_id, pkey=record.partitionkey,
                  trace=span.passed_on)
        span.outcome(ESCALATED)
    notify.approval_closed(notifier, store, req, f"expired at {expiry.strftime('%H:%M UTC')} "
                           "without a decision; escalated", kind="expired")
    report.expired.append(req.plan.plan_id)


def _alert(store: ObjectStore, incident: str) -> Alert | None:
    """The incident's alert, so the escalation reads on its own in Slack or a pager."""
    for r in audit.read(store, incident):
        raw = r.data.get("alert") if isinstance(r.data, dict) else None
        if isinstance(raw, dict):
            try:
                return Alert.model_validate(raw)
            except ValidationError:
                continue
    return None


def _escalate(publisher: Publisher | None, s: Summary, reason: EscalationReason, detail: str, *,
              input_id: str, alert: Alert | None, plan_id: str | None, pkey: str | None,
              trace: dict[str, str] | None = None) -> None:
    if publisher is None:
        raise TransientError("no broker URL configured (K_SINK or CONSOLE_BROKER_URL): the "
                             "sweep cannot escalate")
    out = Outgoing(type=ESCALATED, id=event_id(s.incident_key, STAGE, input_id), function=STAGE,
                   incident_key=s.incident_key, partition_key=pkey, extra=trace or {},
                   data=Escalated(incident_key=s.incident_key, stage="console", reason=reason,
                                  detail=detail, alert=alert, plan_id=plan_id))
    headers, body = to_binary(out)
    publisher.publish(headers, body)
    log.info("escalated %s (%s) as %s", s.incident_key, reason, out.id)
