"""What the router answers when the executor reports back: resolved, or escalated and why.

- `action.failed` → escalated (`action-failed`), with the executor's error;
- `action.completed` at observe → escalated (`observe`): shadow mode, nothing was even dry-run;
- `action.completed` in dry-run mode → escalated (`dry-run`): nothing was applied, the dry run
  only showed the action would be accepted, so a human must act;
- `action.completed` with nothing applied (every action refused or failed) → escalated;
- otherwise every applied action's object is watched until healthy, or until the deadline →
  escalated (`verification-failed`) with what was seen; healthy, the alert itself is checked
  within the same deadline (`alertcheck.py`): cleared → `resolved` (`alert-cleared`), still
  firing → escalated (`verification-failed`, "alert still firing"), not checkable (no
  Prometheus, or it is down) → `resolved` (`verified-healthy`) saying the alert was not checked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from orchestrator.adapters.kube_errors import KubeError
from orchestrator.adapters.kube_reads import KubeReads
from orchestrator.adapters.prometheus import Alerts, Metrics
from orchestrator.events import ActionCompleted, ActionFailed, Escalated, EscalationReason, Resolved
from orchestrator.orient.alertcheck import watch_alert
from orchestrator.orient.verify import subject_for, watch_until_healthy
from orchestrator.plan import ActionResult

log = logging.getLogger(__name__)
STAGE = "router"
APPLIED = ("applied", "already-applied")


def close_loop(*, done: ActionCompleted | ActionFailed, reads: KubeReads | None,
               timeout: float, settle: float,
               clock: Callable[[], float] = time.monotonic,
               metrics: Metrics | None = None, alerts: Alerts | None = None,
               poll: float = 5.0) -> Resolved | Escalated:
    """The verdict on one executor report (the watch, if any, ends within `timeout` s)."""
    if isinstance(done, ActionFailed):
        return _escalate(done, "action-failed",
                         f"the executor failed: {done.error}. {_summary(done.results)}")
    if done.mode == "observe":
        return _escalate(done, "observe", (
            "shadow mode (level observe): nothing was executed, not even a dry run. "
            f"{_summary(done.results)} A human must act; the trust report counts this record."))
    if done.mode == "dry-run":
        return _escalate(done, "dry-run", (
            "policy mode is dry-run: nothing was applied to the cluster. "
            f"{_summary(done.results)} A human must act (apply it, or run the executor in "
            "enforce mode)."))
    applied = [r for r in done.results if r.outcome in APPLIED]
    if not applied:
        outcomes = {r.outcome for r in done.results}
        reason: EscalationReason = "action-failed" if "failed" in outcomes or not outcomes \
            else "policy" if outcomes == {"refused"} else "dry-run"
        return _escalate(done, reason, f"no action was applied, nothing to verify. "
                                       f"{_summary(done.results)} A human must act.")
    if reads is None:
        return _escalate(done, "verification-failed",
                         f"{_summary(applied)} The router has no cluster connection to verify "
                         "the outcome: a human must check.")
    deadline = clock() + timeout
    seen = []
    for result in applied:
        try:
            subject = subject_for(result, reads)
            verdict = watch_until_healthy(reads, subject, deadline=deadline, settle=settle,
                                          clock=clock)
        except KubeError as e:
            return _escalate(done, "verification-failed",
                             f"{_summary(applied)} Could not watch the outcome: {e}")
        log.info("verification of %s %s: %s", result.action.type, result.action.target.key,
                 verdict.seen)
        if not verdict.healthy:
            return _escalate(done, "verification-failed",
                             f"{_summary(applied)} {verdict.seen}. Watched for {timeout:.0f}s; "
                             "a human must look.")
        seen.append(verdict.seen)
    healthy = "; ".join(seen)
    action = " and ".join(sorted({r.action.type for r in applied}))
    checked = watch_alert(alert=done.alert, action=action, metrics=metrics, alerts=alerts,
                          deadline=deadline, settle=settle, poll=poll, clock=clock)
    log.info("alert check of %s: %s", done.alert.name, checked.text[:300])
    if checked.checked and not checked.cleared:
        return _escalate(done, "verification-failed",
                         f"{_summary(applied)} {healthy}; {checked.text}. A human must look.")
    return Resolved(incident_key=done.incident_key,
                    how="alert-cleared" if checked.cleared else "verified-healthy",
                    detail=f"{healthy}; {checked.text}"[:4000], alert=done.alert)


def _escalate(done: ActionCompleted | ActionFailed, reason: EscalationReason,
              detail: str) -> Escalated:
    return Escalated(incident_key=done.incident_key, stage=STAGE, reason=reason,
                     detail=detail[:4000], alert=done.alert, plan_id=done.plan_id)


def _summary(results: list[ActionResult]) -> str:
    parts = []
    for r in results:
        what = f"{r.action.type} {r.action.target.key}: {r.outcome}"
        if r.dry_run:
            what += f" (dry run: {r.dry_run[:200]})"
        if r.api_result and r.outcome == "would-do":
            what += f" ({r.api_result[:200]})"
        elif r.api_result and r.outcome not in ("dry-run",):
            what += f" (API: {r.api_result[:200]})"
        parts.append(what)
    return ("Actions: " + "; ".join(parts) + ".") if parts else "No actions."
