"""What the incident page shows, assembled from the audit records: the alert, the context, the
plan and its runbooks, the dry run, the approval, the result, the verification, and the OODA
timeline as points on a time axis (drawn server-side as inline SVG, no script needed).

Every model is re-validated from the log; a record that does not validate is shown raw (and
escaped, like everything else on the page) instead of breaking the page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

from pydantic import ValidationError

from orchestrator.console.audit import Record
from orchestrator.console.status import ordered
from orchestrator.events import (
    ACTION_COMPLETED,
    ACTION_FAILED,
    APPROVAL_REQUESTED,
    CONTEXT_ENRICHED,
    ESCALATED,
    MODELS,
    PLAN_APPROVED,
    PLAN_PROPOSED,
    PLAN_REJECTED,
    RESOLVED,
    ROLES,
    Phase,
)

log = logging.getLogger(__name__)

PHASES: tuple[str, ...] = get_args(Phase)
WIDTH, LEFT, RIGHT, TOP, LANE = 960, 90, 30, 24, 30


@dataclass(frozen=True)
class Point:
    n: int
    x: float
    y: float
    phase: str
    type: str
    time: str
    offset: str


@dataclass(frozen=True)
class Timeline:
    points: list[Point]
    lanes: list[tuple[str, float]]
    ticks: list[tuple[float, str]]
    width: int
    height: int


@dataclass
class IncidentView:
    """Parsed pieces of one incident, each the latest of its kind (lists keep them all)."""

    alert: Any = None
    context: Any = None
    proposed: Any = None
    requests: list[Any] = field(default_factory=list)
    """Approval requests whose executor signature verifies: the only ones shown as such."""
    unverified: list[Any] = field(default_factory=list)
    """Requests recorded without a valid executor signature: flagged, never shown as a plan."""
    decisions: list[tuple[str, Any]] = field(default_factory=list)
    results: list[tuple[str, Any]] = field(default_factory=list)
    resolved: Any = None
    escalations: list[Any] = field(default_factory=list)
    invalid: list[tuple[Record, str]] = field(default_factory=list)
    timeline: Timeline | None = None

    @property
    def dry_runs(self) -> list[Any]:
        """The dry run a human saw (the latest request's), else a dry-run mode result's."""
        if self.requests:
            return list(self.requests[-1].dry_runs)
        for _, res in reversed(self.results):
            if res.mode == "dry-run":
                return list(res.results)
        return []


def _offset(seconds: float) -> str:
    if seconds < 120:
        return f"+{seconds:.1f}s"
    if seconds < 7200:
        return f"+{seconds / 60:.1f}m"
    return f"+{seconds / 3600:.1f}h"


def timeline(records: list[Record]) -> Timeline:
    recs = ordered(records)
    lanes = [(name, TOP + i * LANE + LANE / 2) for i, name in enumerate(PHASES)]
    lane_y = dict(lanes)
    height = int(TOP + len(PHASES) * LANE + 30)
    if not recs:
        return Timeline([], lanes, [], WIDTH, height)
    t0 = recs[0].when
    span = max((recs[-1].when - t0).total_seconds(), 1.0)
    usable = WIDTH - LEFT - RIGHT
    points = [Point(n=i, x=round(LEFT + (r.when - t0).total_seconds() / span * usable, 1),
                    y=lane_y[_phase(r.type)], phase=_phase(r.type),
                    type=r.type.removeprefix("incident."), time=r.time,
                    offset=_offset((r.when - t0).total_seconds()))
              for i, r in enumerate(recs, 1)]
    ticks = [(round(LEFT + f * usable, 1), _offset(f * span) if f else "0")
             for f in (0, 0.25, 0.5, 0.75, 1)]
    return Timeline(points, lanes, ticks, WIDTH, height)


def _phase(type_: str) -> Phase:
    role = ROLES.get(type_)
    return role.phase if role else "Escalate"


def view(records: list[Record], *,
         verified: Callable[[Any], bool] = lambda _req: False) -> IncidentView:
    """The page's pieces. `verified` says whether the executor signed an approval request (its
    signature covers exactly what a human is shown); no verifier means none is trusted."""
    v = IncidentView(timeline=timeline(records))
    for r in ordered(records):
        model = MODELS.get(r.type)
        if model is None:
            continue
        try:
            data: Any = model.model_validate(r.data)
        except ValidationError as e:
            v.invalid.append((r, json.dumps(r.data, indent=2, default=str)[:20000]))
            log.warning("record %s does not validate as %s: %s", r.id, r.type,
                        e.errors()[0]["msg"])
            continue
        if v.alert is None and getattr(data, "alert", None) is not None:
            v.alert = data.alert
        if r.type == CONTEXT_ENRICHED:
            v.context = data.context
        elif r.type == PLAN_PROPOSED:
            v.proposed = data
        elif r.type == APPROVAL_REQUESTED:
            (v.requests if verified(data) else v.unverified).append(data)
        elif r.type in (PLAN_APPROVED, PLAN_REJECTED):
            v.decisions.append(("approved" if r.type == PLAN_APPROVED else "rejected", data))
        elif r.type in (ACTION_COMPLETED, ACTION_FAILED):
            v.results.append(("completed" if r.type == ACTION_COMPLETED else "failed", data))
        elif r.type == RESOLVED:
            v.resolved = data
        elif r.type == ESCALATED:
            v.escalations.append(data)
    return v


def safe_url(url: str | None) -> str | None:
    """Only http(s) URLs become links: `javascript:` and friends in an alert stay text."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def age(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "?"
    seconds = max((now - since).total_seconds(), 0)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"
