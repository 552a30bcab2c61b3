"""The executor's own check of remediation memory: no action that failed twice on this workload
within 24 hours, whatever the plan says.

The agent already leaves such actions out (`orchestrator.memory`), but a plan is a hint: the
executor reads the outcomes itself from the audit store the console files them in. Kept apart
from the policy checks (`checks.py`, `assess.py`), which judge the cluster as it is now; this
judges what the last incidents showed. No store configured: nothing to check, said once in the
log at start. The store down: the delivery is retried (TransientError), never acted on blind.
"""

from __future__ import annotations

import logging
from datetime import datetime

from orchestrator import memory
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.plan import Plan
from orchestrator.settings.executor import ExecutorSettings

log = logging.getLogger(__name__)


def refusal(store: ObjectStore | None, *, plan: Plan, workload: str | None,
            now: datetime) -> str | None:
    """Why the plan must not run on `workload` (its top owner), or None."""
    if store is None or workload is None or not plan.actions:
        return None
    past = memory.history(store, workload, since=now - memory.WINDOW)
    runbook = plan.citations[0].runbook if plan.citations else None
    for action in plan.actions:
        why = memory.blocked(past, runbook=runbook, action=action.type, workload=workload,
                             now=now)
        if why is not None:
            log.warning("plan %s refused by remediation memory: %s", plan.plan_id, why)
            return f"plan {plan.plan_id} not acted on: {why}"
    return None


def memory_store(s: ExecutorSettings) -> ObjectStore | None:
    """The audit store holding remediation memory, or None (then it is not checked)."""
    from orchestrator.adapters.object_store import audit_store

    store = audit_store(s)
    if store is not None:
        return store
    log.warning("no remediation memory (EXECUTOR_MEMORY_DIR or EXECUTOR_MEMORY_ENDPOINT): "
                "actions that failed before on a workload are not refused here")
    return None
