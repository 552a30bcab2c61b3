"""The event contract: every CloudEvent type the loop routes, and the model of its `data`.

Types are constants beside their payload models; `MODELS` maps one to the other so a handler can
validate any incoming event with one call. Ids and keys are deterministic (see `ids.py`), so a
redelivered input yields the same output event.

The payloads that carry a cluster context or a plan are defined in `orchestrator.payloads` and
served from here under their contract names when first asked for: ingest, which emits only
alerts, never imports the context and plan models (cold start is a product feature).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from orchestrator.models import Frozen

if TYPE_CHECKING:
    from orchestrator.payloads import MODELS as MODELS
    from orchestrator.payloads import ActionCompleted as ActionCompleted
    from orchestrator.payloads import ActionFailed as ActionFailed
    from orchestrator.payloads import ApprovalRequested as ApprovalRequested
    from orchestrator.payloads import ContextEnriched as ContextEnriched
    from orchestrator.payloads import PlanApproved as PlanApproved
    from orchestrator.payloads import PlanDecision as PlanDecision
    from orchestrator.payloads import PlanProposed as PlanProposed
    from orchestrator.payloads import PlanRejected as PlanRejected
    from orchestrator.payloads import ShownForApproval as ShownForApproval

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


_LATER = frozenset({"MODELS", "ActionCompleted", "ActionFailed", "ApprovalRequested",
                    "ContextEnriched", "PlanApproved", "PlanDecision", "PlanProposed",
                    "PlanRejected", "ShownForApproval"})

if not TYPE_CHECKING:  # mypy reads the imports above; this serves them at run time (PEP 562)

    def __getattr__(name: str) -> Any:
        if name in _LATER:
            from orchestrator import payloads

            value = getattr(payloads, name)
            globals()[name] = value  # once: later lookups are plain module attributes
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
