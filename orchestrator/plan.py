"""Remediation plans: what the agent proposes and what the executor reports back.

A plan is a proposal, never an authority: whether a human must approve it is decided by the
executor's policy, so nothing here says "auto" or "approved".
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from orchestrator.context import ObjectRef
from orchestrator.models import Frozen

ActionType = Literal[
    "delete_pod", "rollout_restart", "scale", "rollback", "cordon_node", "delete_failed_job"
]
ACTION_TYPES: tuple[str, ...] = (
    "delete_pod", "rollout_restart", "scale", "rollback", "cordon_node", "delete_failed_job"
)
Risk = Literal["low", "medium", "high"]


class Citation(Frozen):
    """The runbook chunk a plan stands on."""

    runbook: str
    heading: str = ""
    chunk: str = ""
    score: float = 0.0


class RetrievedRunbook(Frozen):
    """One ranked retrieval hit, kept on the plan so a human can see why it was chosen."""

    runbook: str
    score: float
    heading: str = ""
    retriever: Literal["exact", "bm25", "dense", "semantic", "fused", "name", "cluster"] = "fused"


class Action(Frozen):
    type: ActionType
    target: ObjectRef
    parameters: dict[str, int | str] = {}
    reason: str = ""


class TokenBudget(Frozen):
    """The LLM token budgets as the agent saw them when it planned (tokens in + out).

    `incident_spent` and `hour_spent` include this plan's own calls; the remainders are the
    limits minus those. `exhausted` names the budget that stopped an LLM call for this plan:
    the plan then came from the offline planner, and its hypothesis says so.
    """

    incident_limit: int
    incident_spent: int
    hour_limit: int | None = None
    """Tokens all incidents together may spend in any 60 minutes; None = not enforced (no
    audit store to count in, or no hourly limit configured)."""
    hour_spent: int | None = None
    exhausted: Literal["incident", "hour"] | None = None


class Plan(Frozen):
    plan_id: str
    incident_key: str
    fingerprint: str
    hypothesis: str
    confidence: float = Field(ge=0.0, le=1.0)
    citations: list[Citation] = []
    actions: list[Action] = []
    retrieval: list[RetrievedRunbook] = []
    model: str
    offline: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    reused_from: str | None = None
    created_at: datetime
    budget: TokenBudget | None = None
    """The token budgets when an LLM was configured; None on reused and offline-only plans."""


Outcome = Literal["applied", "dry-run", "already-applied", "refused", "failed", "would-do"]
"""`would-do`: at level `observe`, what the executor would have done (nothing was sent)."""


class ActionResult(Frozen):
    """What became of one action: the server-side dry run, then (maybe) the real write."""

    action: Action
    outcome: Outcome
    dry_run: str = ""
    api_result: str = ""
    resource_version: str | None = None
