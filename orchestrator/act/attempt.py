"""One action's dry run and write, with the conflict handling and budget around them.

A 409 means the target changed between the read and the write: re-read it, check it again
(it may now carry this plan's mark, or an opt-out annotation), and retry once; a second 409 is
a busy object, retried later by the broker. For an approved plan a 409 means the human approved
something that is no longer there, so the approval is asked again instead of retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from orchestrator.act.assess import Step, refresh
from orchestrator.act.lease_budget import Entry, LeaseBudget, State
from orchestrator.act.policy import Policy
from orchestrator.act.targets import Resolved
from orchestrator.act.writes import execute
from orchestrator.adapters.kube_errors import Conflict, Forbidden, NotFound, Rejected
from orchestrator.adapters.kube_writes import KubeWrites
from orchestrator.errors import TransientError
from orchestrator.plan import ActionResult, Outcome

Result = Literal["dry-run", "applied", "already-applied", "failed", "refused", "budget", "stale"]
_REPORTED: dict[str, Outcome] = {
    "dry-run": "dry-run", "applied": "applied", "already-applied": "already-applied",
    "failed": "failed", "refused": "refused", "budget": "refused", "stale": "refused",
}
_FINAL_STATE: dict[str, State] = {
    "applied": "applied", "already-applied": "applied", "failed": "failed", "refused": "failed",
}


@dataclass(frozen=True)
class Applied:
    """What became of one step: the outcome, a line for humans, the dry run's own line."""

    outcome: Result
    detail: str
    dry_run: str = ""
    resource_version: str | None = None

    def result(self, step: Step) -> ActionResult:
        return ActionResult(action=step.action, outcome=_REPORTED[self.outcome],
                            dry_run=self.dry_run, api_result=self.detail,
                            resource_version=self.resource_version)


def dry_run_step(kube: KubeWrites, step: Step, *, plan_id: str, alerted: list[Resolved],
                 policy: Policy, now: datetime, approved: bool) -> Applied:
    """Server-side dry run (`dryRun=All`) of one pending step."""
    return _attempt(kube, step, plan_id=plan_id, alerted=alerted, policy=policy, now=now,
                    dry_run=True, approved=approved, entry=None)


def apply_step(kube: KubeWrites, step: Step, *, budget: LeaseBudget, plan_id: str,
               incident_key: str, alerted: list[Resolved], policy: Policy, now: datetime,
               approved: bool, dry: Applied) -> Applied:
    """Take a budget slot, then write. The slot records how the write ended."""
    assert step.target is not None
    top, action = step.target.top, step.action.type
    slot = budget.take(top, plan_id=plan_id, incident=incident_key, action=action,
                       index=step.index, now=now)
    if slot.status == "spent":
        return Applied("budget", slot.detail, dry.dry_run)
    if slot.status == "settling":
        if slot.entry is not None and slot.entry.action == action:
            return Applied("already-applied", f"not repeated: {slot.detail}", dry.dry_run)
        return Applied("budget", slot.detail, dry.dry_run)
    if slot.status == "mine" and slot.entry is not None and slot.entry.state != "taken":
        state = slot.entry.state
        return Applied("already-applied" if state == "applied" else "failed",
                       f"this plan already {state} it", dry.dry_run)
    done = _attempt(kube, step, plan_id=plan_id, alerted=alerted, policy=policy, now=now,
                    dry_run=False, approved=approved, entry=slot.entry)
    done = Applied(done.outcome, done.detail, dry.dry_run, done.resource_version)
    final = _FINAL_STATE.get(done.outcome)
    if final is not None:
        budget.finish(top, plan_id=plan_id, index=step.index, state=final, now=now)
    else:  # stale: nothing was written, give the slot back
        budget.release(top, plan_id=plan_id, index=step.index, now=now)
    return done


def _attempt(kube: KubeWrites, step: Step, *, plan_id: str, alerted: list[Resolved],
             policy: Policy, now: datetime, dry_run: bool, approved: bool,
             entry: Entry | None) -> Applied:
    ok: Result = "dry-run" if dry_run else "applied"
    for attempt in (1, 2):
        target = step.target
        assert target is not None
        key = target.ref.key
        try:
            out = execute(kube, step.action, target, plan_id=plan_id, now=now, dry_run=dry_run)
        except Conflict as e:
            if attempt == 2:
                raise TransientError(f"{key} kept changing under the executor: {e.message}") \
                    from e
            refresh(kube, step, plan_id=plan_id, entry=entry, alerted=alerted, policy=policy)
            if step.status == "done":
                return Applied("already-applied", step.note)
            if step.status == "failed":
                return Applied("failed", step.note)
            if step.status == "refused":
                return Applied("refused", "; ".join(step.reasons))
            if approved:
                return Applied("stale", f"{key} changed after the approval was requested "
                               f"({e.message})")
            continue
        except Forbidden as e:
            return Applied("refused", f"the executor's RBAC does not allow this on {key}: "
                           f"{e.message}")
        except NotFound as e:
            return Applied("failed", f"{key} disappeared: {e.message}")
        except Rejected as e:
            return Applied("failed", f"the API refused it ({e.code} {e.reason}): {e.message}")
        if out.gone:
            return Applied("dry-run" if dry_run else "already-applied", out.summary,
                           out.summary if dry_run else "")
        return Applied(ok, out.summary, out.summary if dry_run else "", out.resource_version)
    raise AssertionError("unreachable")
