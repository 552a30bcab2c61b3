"""Prometheus evidence for the context: the alert's own expression and the runbook's PromQL,
each over the last minutes, summarized in a few numbers the agent (and a human) can read.

A summary says where the value is now, its range and trend over the window, and, for the rule's
expression, when it crossed the rule's threshold. Raw points are never carried: a 30-minute
window at the default step is 120 points per series, and the event has a byte cap.

Prometheus is evidence, not a dependency: down, slow or refusing a query, the context says so in
`errors` or in the summary's note, and the rest of Orient goes on. All queries together take at
most `budget` seconds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from orchestrator.adapters.prometheus import Metrics, MetricsUnavailable, QueryRejected, Series
from orchestrator.context import MetricSummary
from orchestrator.events import Alert
from orchestrator.knowledge.promql import Comparison
from orchestrator.orient.alertrule import RuleMatch, find_rule, mine
from orchestrator.orient.fields import Scrubber

if TYPE_CHECKING:
    from orchestrator.orient.limits import MetricLimits

log = logging.getLogger(__name__)
Origin = Literal["alert-rule", "generator-url", "runbook"]


@dataclass(frozen=True)
class _Job:
    expr: str
    origin: Origin
    comparison: Comparison | None = None
    rule_labels: dict[str, str] | None = None
    """Set for the rule's expression: only the alert's own series are kept."""


@dataclass(frozen=True)
class Lookup:
    """The alert's rule, and what went wrong finding it (`down`: no query is worth trying)."""

    rule: RuleMatch | None
    errors: list[str]
    down: bool = False


def lookup_rule(alert: Alert, metrics: Metrics, scrub: Scrubber) -> Lookup:
    """Prometheus down or refusing is an error line, not a raise."""
    try:
        rule = find_rule(alert, metrics)
    except (MetricsUnavailable, QueryRejected) as e:
        return Lookup(None, [scrub.text(f"prometheus: {e}", "errors") or ""], down=True)
    if rule is None:
        return Lookup(None, [f"prometheus: no alerting rule named {alert.name!r} and no "
                             "expression in the alert's generatorURL"])
    return Lookup(rule, [])


def gather_metrics(*, alert: Alert, metrics: Metrics, rule: RuleMatch | None,
                   runbook_queries: list[str], limits: MetricLimits, scrub: Scrubber,
                   clock: Callable[[], float] = time.time) -> list[MetricSummary]:
    """Summaries of the rule's expression and the runbook's queries; never raises for
    Prometheus' sake (a failed or slow query is a summary with a note)."""
    started = time.monotonic()
    jobs = []
    if rule is not None:
        cmp = rule.comparison
        jobs.append(_Job(cmp.lhs if cmp else rule.expr, rule.origin, cmp, rule.labels))
    jobs += [_Job(q, "runbook") for q in runbook_queries]
    jobs = jobs[: limits.metrics_max_queries]
    if not jobs:
        return []
    end = clock()
    window = limits.metrics_window_minutes * 60.0
    step = max(1.0, math.ceil(window / limits.metrics_max_points))
    pool = ThreadPoolExecutor(max_workers=min(4, len(jobs)), thread_name_prefix="router-prom")
    try:
        futures = [pool.submit(metrics.query_range, j.expr, start=end - window, end=end,
                               step=step) for j in jobs]
        remaining = limits.metrics_budget_seconds - (time.monotonic() - started)
        wait(futures, timeout=max(0.0, remaining))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    out: list[MetricSummary] = []
    for job, fut in zip(jobs, futures, strict=True):
        query = scrub.text(" ".join(job.expr.split()), "metrics", limit=600) or ""
        if not fut.done():
            out.append(MetricSummary(query=query, origin=job.origin,
                                     note=f"timed out after {limits.metrics_budget_seconds:g}s"))
            continue
        try:
            series = fut.result()
        except (MetricsUnavailable, QueryRejected) as e:
            note = scrub.text(f"error: {e}", "metrics", limit=300) or ""
            out.append(MetricSummary(query=query, origin=job.origin, note=note))
            continue
        if job.rule_labels is not None:
            series = mine(series, alert, job.rule_labels)
        out += _summaries(series, query=query, job=job, step=step, end=end,
                          keep=limits.metrics_max_series, scrub=scrub)
    log.info("metrics for %s: %d summaries from %d queries in %.0f ms", alert.name, len(out),
             len(jobs), (time.monotonic() - started) * 1000)
    return out


def _summaries(series: list[Series], *, query: str, job: _Job, step: float, end: float,
               keep: int, scrub: Scrubber) -> list[MetricSummary]:
    if not series or not any(s.points for s in series):
        return [MetricSummary(query=query, origin=job.origin,
                              threshold=job.comparison.describe() if job.comparison else None,
                              note="no data in the window")]
    ranked = sorted((s for s in series if s.points), key=lambda s: -s.points[-1][1])
    kept = ranked[:keep]
    out = []
    for n, s in enumerate(kept):
        note = ""
        if n == len(kept) - 1 and len(ranked) > len(kept):
            note = f"{len(ranked) - len(kept)} more series not shown"
        out.append(summarize(s, query=query, origin=job.origin, comparison=job.comparison,
                             step=step, end=end, note=note, scrub=scrub,
                             one=len(ranked) == 1))
    return out


def summarize(s: Series, *, query: str, origin: Origin, comparison: Comparison | None,
              step: float, end: float, note: str = "", scrub: Scrubber | None = None,
              one: bool = False) -> MetricSummary:
    """One series as current/min/max/trend (and threshold crossing, for the rule)."""
    values = [v for _, v in s.points]
    crossed = None
    notes = [note] if note else []
    if comparison is not None:
        run_start = None
        for i, (_, v) in enumerate(s.points):
            if comparison.fires(v):
                if run_start is None:
                    run_start = i
            else:
                run_start = None
        if run_start is not None and run_start > 0:
            crossed = datetime.fromtimestamp(s.points[run_start][0], UTC)
        elif run_start == 0:
            notes.append("on the firing side for the whole window")
    last_t = s.points[-1][0]
    if end - last_t > 3 * step:
        notes.append(f"no data since {datetime.fromtimestamp(last_t, UTC):%H:%M:%S}Z")
    labels = "" if one else "{" + ",".join(
        f'{k}="{v}"' for k, v in sorted(s.labels.items()) if k != "__name__") + "}"
    if scrub is not None:
        labels = scrub.text(labels, "metrics", limit=300) or ""
    return MetricSummary(query=query, origin=origin, series=labels, current=_r(values[-1]),
                         min=_r(min(values)), max=_r(max(values)), trend=trend(values),
                         threshold=comparison.describe() if comparison else None,
                         crossed_at=crossed, points=len(values), note="; ".join(notes))


def trend(values: list[float]) -> Literal["rising", "falling", "flat", "unknown"]:
    """The last third's mean against the first third's, relative to the window's range."""
    if len(values) < 3:
        return "unknown"
    third = max(1, len(values) // 3)
    first, last = sum(values[:third]) / third, sum(values[-third:]) / third
    span = max(values) - min(values)
    if span == 0 or abs(last - first) < 0.1 * span:
        return "flat"
    return "rising" if last > first else "falling"


def _r(v: float) -> float:
    return float(f"{v:.4g}")
