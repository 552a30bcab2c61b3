"""The event contract: every CloudEvent type the loop routes, and the model of its `data`.

Types are constants beside their payload models; `MODELS` maps one to the other so a handler can
validate any incoming event with one call. Ids and keys are deterministic (see `ids.py`), so a
redelivered input yields the same output event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from orchestrator.context import ClusterContext, ObjectRef
from orchestrator.models import Frozen
from orchestrator.plan import ActionResult, Plan

ALERT_MANUAL = "incident.alert.manual"
ALERT_RECEIVED = "incident.alert.received"
CONTEXT_ENRICHED = "incident.context.enriched"
PLAN_PROPOSED = "incident.plan.proposed"
APPROVAL_REQUESTED = "incident.approval.requested"
PLAN_APPROVED = "incident.plan.approved"
PLAN_REJECTED = "incident.plan.rejected"
ACTION_COMPLETED = "incident.action.completed"
ACTION_FAILED = "incident.action.failed"
RESOLVED = "incident.resolved"
ESCALATED = "incident.escalated"

TYPE_PREFIX = "incident."

Phase = Literal["Observe", "Orient", "Decide", "Act", "Escalate"]
Status = Literal["open", "awaiting approval", "acting", "resolved", "escalated"]


@dataclass(frozen=True)
class Role:
    """What the contract says of one type: who may sign it (`provenance`), its loop phase (the
    console's timeline) and the status it leaves its incident in (`console.status`)."""

    producers: frozenset[str]
    phase: Phase
    status: Status


ROLES: dict[str, Role] = {  # in the loop's order, which breaks ties in time
    ALERT_RECEIVED: Role(frozenset({"ingest"}), "Observe", "open"),
    CONTEXT_ENRICHED: Role(frozenset({"router"}), "Orient", "open"),
    PLAN_PROPOSED: Role(frozenset({"agent"}), "Decide", "open"),
    APPROVAL_REQUESTED: Role(frozenset({"executor"}), "Decide", "awaiting approval"),
    PLAN_APPROVED: Role(frozenset({"console"}), "Decide", "acting"),
    PLAN_REJECTED: Role(frozenset({"console"}), "Decide", "escalated"),
    ACTION_COMPLETED: Role(frozenset({"executor"}), "Act", "acting"),
    ACTION_FAILED: Role(frozenset({"executor"}), "Act", "acting"),
    ESCALATED: Role(frozenset({"router", "agent", "executor", "console"}), "Escalate",
                    "escalated"),
    RESOLVED: Role(frozenset({"router"}), "Observe", "resolved"),
}


class Alert(Frozen):
    """One Alertmanager alert, normalized (field names snake_case, times parsed)."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str = ""
    fingerprint: str
    source: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def cluster(self) -> str | None:
        return self.labels.get("cluster") or None

    @property
    def namespace(self) -> str | None:
        return self.labels.get("namespace") or None


class AlertReceived(Frozen):
    """`incident.alert.received`: ingest → router."""

    incident_key: str
    alert: Alert
    receiver: str = ""
    group_key: str = ""
    manual: bool = False
    test: bool = False


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


class Resolved(Frozen):
    """`incident.resolved`: router → console."""

    incident_key: str
    how: Literal["alert-resolved", "verified-healthy", "alert-cleared"]
    """`alert-cleared`: healthy, and the alert itself stopped firing (router with Prometheus)."""
    detail: str = ""
    alert: Alert | None = None


EscalationReason = Literal[
    "no-runbook",
    "no-applicable-action",
    "low-confidence",
    "invalid-plan",
    "policy",
    "budget",
    "loop-guard",
    "verification-failed",
    "action-failed",
    "dry-run",
    "observe",
    "approval-expired",
    "approval-rejected",
    "approval-invalid",
    "stale",
    "timeout",
    "dependency",
]


class Escalated(Frozen):
    """`incident.escalated`: any stage → console. Why no autonomous action was taken."""

    incident_key: str
    stage: Literal["ingest", "router", "agent", "executor", "console"]
    reason: EscalationReason
    detail: str = Field(default="", max_length=4000)
    alert: Alert | None = None
    plan_id: str | None = None


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
