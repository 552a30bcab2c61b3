"""The event contract's payloads that carry a cluster context or a plan.

They are part of `orchestrator.events` and are imported from there by everyone: they live in
this module only so that a function which never meets them (ingest emits nothing but alerts)
does not import the context and plan models at all; `orchestrator.events` loads this module the
first time one of these names is asked for. `MODELS` maps every event type to its payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from orchestrator.context import ClusterContext, ObjectRef
from orchestrator.events import (
    ACTION_COMPLETED,
    ACTION_FAILED,
    ALERT_RECEIVED,
    APPROVAL_REQUESTED,
    CONTEXT_ENRICHED,
    ESCALATED,
    PLAN_APPROVED,
    PLAN_PROPOSED,
    PLAN_REJECTED,
    RESOLVED,
    Alert,
    AlertReceived,
    Escalated,
    Resolved,
)
from orchestrator.models import Frozen
from orchestrator.plan import ActionResult, Plan


class ContextEnriched(Frozen):
    """`incident.context.enriched`: router → agent."""

    incident_key: str
    alert: Alert
    context: ClusterContext
    test: bool = False


class PlanProposed(Frozen):
    """`incident.plan.proposed`: agent → executor."""

    incident_key: str
    alert: Alert
    plan: Plan
    target: ObjectRef | None = None
    owners: list[ObjectRef] = []


class ShownForApproval(Frozen):
    """What a human is shown and decides on: carried verbatim by the request and the decision
    (`orchestrator.signing.request_of` rebuilds the one from the other)."""

    incident_key: str
    alert: Alert
    plan: Plan
    dry_runs: list[ActionResult]
    resource_versions: dict[str, str] = {}
    requested_at: datetime
    expires_at: datetime
    why: str = ""

    def shown(self) -> dict[str, Any]:
        """These fields alone, to build the request or the decision that carries them."""
        return {name: getattr(self, name) for name in ShownForApproval.model_fields}


class ApprovalRequested(ShownForApproval):
    """`incident.approval.requested`: executor → console. `signature` is the executor's
    Ed25519 signature over every other field (`orchestrator.signing.request_payload`)."""

    signature: str


class PlanDecision(ShownForApproval):
    """Common body of `incident.plan.approved` / `.rejected` (console → executor)."""

    executor_signature: str
    approver: str
    decided_at: datetime
    console_signature: str
    comment: str = ""


class PlanApproved(PlanDecision):
    """`incident.plan.approved`."""


class PlanRejected(PlanDecision):
    """`incident.plan.rejected`."""


class ActionCompleted(Frozen):
    """`incident.action.completed`: executor → router (verification)."""

    incident_key: str
    alert: Alert
    plan_id: str
    mode: Literal["enforce", "dry-run", "observe"]
    """`observe`: nothing was executed; the results are `would-do` records (shadow mode)."""
    results: list[ActionResult]
    approver: str | None = None


class ActionFailed(Frozen):
    """`incident.action.failed`: executor → router/console."""

    incident_key: str
    alert: Alert
    plan_id: str
    mode: Literal["enforce", "dry-run"]
    results: list[ActionResult]
    error: str


MODELS: dict[str, type[Frozen]] = {
    ALERT_RECEIVED: AlertReceived,
    CONTEXT_ENRICHED: ContextEnriched,
    PLAN_PROPOSED: PlanProposed,
    APPROVAL_REQUESTED: ApprovalRequested,
    PLAN_APPROVED: PlanApproved,
    PLAN_REJECTED: PlanRejected,
    ACTION_COMPLETED: ActionCompleted,
    ACTION_FAILED: ActionFailed,
    RESOLVED: Resolved,
    ESCALATED: Escalated,
}
