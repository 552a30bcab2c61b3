"""How much Orient reads per alert and how it queries Prometheus: each limit declared once
(name, type, default, bound, meaning).

Blocks, like `orchestrator.settings.blocks`: the router's settings mix them in, so a limit is read
from `ROUTER_` + its name (`ROUTER_MAX_PODS`, `ROUTER_METRICS_MAX_SERIES`) and the chart's
`router.settings` use the same names; the cores (`gather`, `enrich`, `metrics`) take the block
type and are handed the settings themselves. The executor builds a `ReadLimits` for its own
evidence (`orchestrator.act.evidence`).

Apart from the cores, and importing nothing but pydantic, so the router's settings stay cheap to
import. Frozen: a stage never changes its limits, and the settings that mix a block in inherit
it (they are read once per process and never assigned to). `defer_build`: a validator is built
on first use (the settings class inherits it too), so start-up pays for none it does not use.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReadLimits(BaseModel):
    """How much Orient reads per alert (the router's, and the executor's own evidence);
    0 events or 0 log lines means those are not read at all."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    max_events: int = Field(default=30, ge=0)
    """Distinct Kubernetes Events kept (after folding duplicates), newest first."""

    max_pods: int = Field(default=20, ge=1)
    """Pods described in full for a workload, node or Service alert (worst first); the rest are
    counted in `context.cut`."""

    max_revisions: int = Field(default=5, ge=1)
    """ReplicaSets of a Deployment kept as its revision history, newest first: enough to see
    what changed recently and what a rollback would return to."""

    log_tail_lines: int = Field(default=80, ge=1)
    """Lines asked for per log tail (`tailLines`). A crash's traceback fits in far fewer. (The
    executor's own evidence reads no logs: its limits say 0, a value no setting may take.)"""

    log_limit_bytes: int = Field(default=64 * 1024, ge=1024)
    """`limitBytes` per log request: only a guard against runaway lines, since the API applies
    it after `tailLines` and so cuts the newest end. The byte cap trims the rest."""

    log_line_chars: int = Field(default=400, ge=40)
    """Longest log line kept, in characters; longer ones (JSON dumps) are cut with `…`."""


class MetricLimits(BaseModel):
    """How Orient queries Prometheus for the context's metric summaries."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    metrics_budget_seconds: float = Field(default=6.0, gt=0, le=30)
    """Wall time all of Orient's Prometheus queries may take together, in seconds: a slow
    Prometheus costs the alert this much, then the context says what timed out."""

    metrics_window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """How far back the context's metric summaries look (minutes)."""

    metrics_max_points: int = Field(default=120, ge=10, le=11000)
    """Points per queried series: the range query's step is the window divided by this."""

    metrics_max_queries: int = Field(default=6, ge=1, le=20)
    """Queries per alert: the rule's expression, then the runbook's PromQL in its order."""

    metrics_max_series: int = Field(default=3, ge=1, le=20)
    """Series summarized per query (worst first); the rest are counted in its note."""
