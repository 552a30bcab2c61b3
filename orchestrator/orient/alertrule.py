"""Which Prometheus rule raised an alert, and which of its result series is this alert's.

Orient summarizes the rule's expression; verification asks whether it still holds. The rule is
found in `/api/v1/rules` by alertname and by its static labels (a rule's labels are copied onto
every alert it raises); among several, one now firing with this alert's labels wins. Failing
that (an alert from another Prometheus, or rules behind a federation), the alert's
`generatorURL` carries the expression (`/graph?g0.expr=...`), without its `for:`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from orchestrator.adapters.prometheus import AlertRule, Metrics, Series
from orchestrator.events import Alert
from orchestrator.knowledge.promql import Comparison, top_comparison


@dataclass(frozen=True)
class RuleMatch:
    expr: str
    origin: Literal["alert-rule", "generator-url"]
    duration: float | None
    """The rule's `for:` in seconds; None when only the generator URL was known."""
    labels: dict[str, str]
    """Labels the rule adds to its alerts (they override the series' labels)."""

    @property
    def comparison(self) -> Comparison | None:
        return top_comparison(self.expr)


def find_rule(alert: Alert, metrics: Metrics) -> RuleMatch | None:
    """The rule behind `alert` (raises `MetricsUnavailable` when Prometheus is down)."""
    rules = [r for r in metrics.rules() if r.name == alert.name and _subset(r.labels, alert)]
    if rules:
        rule = max(rules, key=lambda r: (_firing_for(r, alert), len(r.labels)))
        return RuleMatch(rule.query, "alert-rule", rule.duration, rule.labels)
    expr = expr_from_url(alert.generator_url)
    return RuleMatch(expr, "generator-url", None, {}) if expr else None


def expr_from_url(url: str) -> str | None:
    """`g0.expr` of a Prometheus generator URL (`/graph?g0.expr=up+%3D%3D+0&g0.tab=1`)."""
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return None
    values = query.get("g0.expr") or []
    return values[0].strip() or None if values else None


def _subset(labels: dict[str, str], alert: Alert) -> bool:
    return all(alert.labels.get(k) == v for k, v in labels.items())


def _firing_for(rule: AlertRule, alert: Alert) -> bool:
    return any(_subset(labels, alert) or labels == alert.labels for labels in rule.firing)


def belongs(series: Series, alert: Alert, rule_labels: dict[str, str]) -> bool:
    """Whether a result series of the rule's expression is the one behind `alert`: each of its
    labels equals the alert's (the rule's own labels override, `__name__` is dropped)."""
    for k, v in series.labels.items():
        if k == "__name__" or k in rule_labels:
            continue
        if alert.labels.get(k) != v:
            return False
    return True


def mine(series: list[Series], alert: Alert, rule_labels: dict[str, str]) -> list[Series]:
    return [s for s in series if belongs(s, alert, rule_labels)]
