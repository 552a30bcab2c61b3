"""Verification on the alert itself: after the object is healthy, did the alert stop firing?

A healthy Deployment is not a fixed incident: the alert that paged may still fire (the restart
cleared nothing; the errors come from a dependency). So once the watch sees the object
healthy, the router polls, until the verification deadline:
- Alertmanager (when configured): is the alert's fingerprint still listed active?
- Prometheus: does the rule's expression still return this alert's series?
The alert counts as cleared once both say no for the rule's `for:` plus the settle period (an
expression can dip below its threshold for a scrape or two and come back). The verdict also
says whether the metric the rule compares moved to the right side of its threshold, from its
value when the alert started to now.

Prometheus and Alertmanager are witnesses, not dependencies: unset or unreachable, the verdict
says the alert was not checked, and the health verdict stands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.adapters.prometheus import (
    Alerts,
    Metrics,
    MetricsUnavailable,
    QueryRejected,
)
from orchestrator.events import Alert
from orchestrator.knowledge.promql import Comparison
from orchestrator.orient.alertrule import RuleMatch, find_rule, mine

log = logging.getLogger(__name__)
_FAILED = (MetricsUnavailable, QueryRejected)


@dataclass(frozen=True)
class AlertVerdict:
    checked: bool
    cleared: bool
    text: str


def watch_alert(*, alert: Alert, action: str, metrics: Metrics | None, alerts: Alerts | None,
                deadline: float, settle: float, poll: float,
                clock: Callable[[], float] = time.monotonic,
                wall: Callable[[], float] = time.time,
                pause: Callable[[float], object] = time.sleep) -> AlertVerdict:
    """Poll until the alert has been clear for its rule's `for:` + `settle`, or `deadline`."""
    if metrics is None and alerts is None:
        return AlertVerdict(False, False, "alert not checked: no Prometheus configured")
    rule: RuleMatch | None = None
    before: float | None = None
    try:
        if metrics is not None:
            rule = find_rule(alert, metrics)
            if rule is not None and rule.comparison is not None:
                before = _value(metrics, rule, rule.comparison, alert,
                                at=alert.starts_at.timestamp())
    except _FAILED as e:
        return AlertVerdict(False, False, f"alert not checked: {e}")
    if alerts is None and rule is None:
        return AlertVerdict(False, False, f"alert not checked: Prometheus has no rule "
                                          f"{alert.name!r} and the alert carries no expression")
    hold = ((rule.duration or 0.0) if rule else 0.0) + settle
    started = clock()
    since: float | None = None
    seen = "not yet looked"
    while True:
        try:
            firing, seen = _firing(alert, rule, metrics, alerts)
        except _FAILED as e:
            return AlertVerdict(False, False, f"alert not checked: {e} (after "
                                              f"{clock() - started:.0f}s; last seen: {seen})")
        now = clock()
        if firing:
            since = None
        elif since is None:
            since = now
        if since is not None and now - since >= hold:
            text = (f"alert cleared: {alert.name} {seen} for {now - since:.0f}s (rule for: "
                    f"{_for(rule)} + settle {settle:.0f}s)")
            return AlertVerdict(True, True, text + _movement(metrics, rule, alert, before, wall))
        if now >= deadline:
            if since is not None:
                text = (f"alert cleared: {alert.name} {seen} for {now - since:.0f}s, short of "
                        f"the rule's for: {_for(rule)} + settle {settle:.0f}s, which the "
                        "verification window could not hold")
                return AlertVerdict(True, True, text + _movement(metrics, rule, alert, before,
                                                                 wall))
            text = (f"alert still firing after {now - started:.0f}s ({seen}): the {action} "
                    "did not fix it")
            return AlertVerdict(True, False, text + _movement(metrics, rule, alert, before, wall))
        wait = poll if since is None else min(poll, hold - (now - since))
        pause(max(0.05, min(wait, deadline - now)))


def _for(rule: RuleMatch | None) -> str:
    if rule is None or rule.duration is None:
        return "unknown"
    return f"{rule.duration:.0f}s"


def _firing(alert: Alert, rule: RuleMatch | None, metrics: Metrics | None,
            alerts: Alerts | None) -> tuple[bool, str]:
    """(still firing?, what each witness says)."""
    parts, firing = [], False
    if alerts is not None:
        active = alert.fingerprint in alerts.active_fingerprints(alert.name)
        firing |= active
        parts.append("active in Alertmanager" if active else "not active in Alertmanager")
    if rule is not None and metrics is not None:
        true = bool(mine(metrics.query(rule.expr), alert, rule.labels))
        firing |= true
        parts.append("rule expression true" if true else "rule expression false")
    return firing, ", ".join(parts)


def _value(metrics: Metrics, rule: RuleMatch, cmp: Comparison, alert: Alert, *,
           at: float | None = None) -> float | None:
    values = [s.points[-1][1] for s in mine(metrics.query(cmp.lhs, at=at), alert, rule.labels)
              if s.points]
    if not values:
        return None
    return max(values) if cmp.op in (">", ">=") else min(values)


def _movement(metrics: Metrics | None, rule: RuleMatch | None, alert: Alert,
              before: float | None, wall: Callable[[], float]) -> str:
    """`; metric <lhs>: 9 → 0 (fires > 5): moved the right way` (or why it cannot say)."""
    if metrics is None or rule is None or rule.comparison is None:
        return "; metric not compared (no threshold in the rule)"
    cmp = rule.comparison
    try:
        after = _value(metrics, rule, cmp, alert, at=wall())
    except _FAILED as e:
        return f"; metric not read: {e}"
    lhs = " ".join(cmp.lhs.split())[:200]
    shown = f"{_num(before)} → {_num(after)}"
    if after is None:
        verdict = "no data now"
    elif not cmp.fires(after):
        verdict = "moved the right way"
    elif before is not None and abs(after - cmp.value) < abs(before - cmp.value):
        verdict = "moved toward the threshold, still on the firing side"
    elif before is not None and after == before:
        verdict = "unchanged"
    else:
        verdict = "did not move the right way"
    return f"; metric {lhs}: {shown} (fires {cmp.describe()}): {verdict}"


def _num(v: float | None) -> str:
    return "?" if v is None else f"{v:.4g}"
