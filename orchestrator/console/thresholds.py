"""When the trust report recommends a workload's next level: each threshold declared once
(name, type, default, bound, meaning).

A block, like `orchestrator.settings.blocks`: the console's settings mix it in, so a threshold is
read from `CONSOLE_` + its name (`CONSOLE_TRUST_MIN_INCIDENTS`) and the chart's
`console.settings` use the same names; the report (`orchestrator.console.trust`) takes the block
type, and the console hands it only these fields of its settings (the web page shows them).
Apart from the report, and importing nothing but pydantic, so the console's settings stay cheap
to import.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrustThresholds(BaseModel):
    """When the trust report recommends a workload's next level (`orchestrator.console.trust`)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    @classmethod
    def of(cls, settings: BaseModel) -> TrustThresholds:
        """These fields of the console's `settings`, and nothing else of them (the trust page
        and the CLI's JSON show what they are given)."""
        return cls(**settings.model_dump(include=set(cls.model_fields)))

    trust_min_incidents: int = Field(default=10, ge=1)
    """Trust report: incidents a workload needs before the report recommends a next level."""

    trust_min_agreement: float = Field(default=0.9, ge=0, le=1)
    """Trust report: share of human decisions that approved the loop's plan, at least."""

    trust_max_refusals: int = Field(default=0, ge=0)
    """Trust report: the most policy refusals (policy, budget, loop guard, invalid plan or
    approval) a workload may have had and still be recommended a next level."""

    trust_min_cleared: float = Field(default=0.8, ge=0, le=1)
    """Trust report: share of the loop's verified actions after which the alert cleared, at
    least (when the router's verdict says whether it cleared)."""
