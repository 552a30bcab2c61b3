"""What the alert's rule measures, against what each runbook is named after.

A runbook is usually named for the condition its alert measures (`PrometheusRuleFailures`,
`KubeProxyDown`), and the alert's PromQL expression (`generatorURL`) names that condition in its
metric names and selector values (`prometheus_rule_evaluation_failures_total`,
`up{job="kube-proxy"}`), even when the alert itself was renamed. The prose of two neighbouring
runbooks (rule failures / missing rule evaluations, kube-proxy / scheduler down) often reads
alike; their names do not.

Each runbook is scored by how much of its name the expression covers, each name word weighted by
its rarity among the runbooks' names (`kube`, `node` or `prometheus` start dozens of names and
say little; `proxy` or `failures` say which). This score only corroborates: one more RRF
ranking over the runbooks another retriever already kept. When the expression spells exactly
one runbook's whole name (every word, two at least: `absent(up{job="kube-proxy"})` spells
KubeProxyDown, `up` being target health), that runbook leads the fused ranking. Neither turns
an abstention into an answer: abstention stays with the retrievers that judge relevance.

The alert's own words count too for the score (not for the lead): a renamed alert's summary
often names the condition its old name did ("failed to renew its client certificate"), figures
and object names taken out (`query.objectless`). A word and its longer form (`renew`,
`renewal`) match. An expression joining conditions with `or` spells no single name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache

from orchestrator.events import Alert
from orchestrator.knowledge.exact import Entry
from orchestrator.knowledge.promql import AGGREGATIONS, FUNCTIONS
from orchestrator.knowledge.query import objectless, promql_of, prose
from orchestrator.knowledge.tokenize import plain_words, tokens

_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^{}]*)\}")
_MATCHER = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:\"([^\"]*)\"|'([^']*)'|`([^`]*)`)")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|`[^`]*`")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_REGEX_CHARS = re.compile(r"[.*+?|\\^$\[\]()]")
_UP = re.compile(r"(?<![A-Za-z0-9_:])up\s*(?:\{|\)|==|!=|<|>|$)")
_NOT_METRICS = FUNCTIONS | AGGREGATIONS | {"group_left", "group_right"}
# Labels that say where a series comes from, not what condition it is in.
_WHERE = frozenset({"job", "namespace", "container", "service", "instance", "pod", "endpoint",
                    "cluster", "metrics_path", "node", "prometheus", "uid"})
_OR = re.compile(r"\bor\b")
_AFFIX = 5
# A runbook counts as named for the alert's measure when the expression covers at least this
# share of its name's weight.
MIN_NAME = 0.5


def measure_words(alert: Alert) -> set[str]:
    """The stemmed words of what the expression measures: its metric names, and the values its
    selectors require (`state="failed"`, `condition="Ready"`), except values that say where the
    series comes from (`job="kube-state-metrics"`, `namespace="monitoring"`), which name the
    exporter, not the condition. For `up` (target health) the job *is* what is measured."""
    return set(tokens(measure_text(promql_of(alert.generator_url)), joined=False))


def measure_text(expr: str) -> str:
    """`measure_words` of a PromQL expression, as text."""
    words: list[str] = []
    for metric, matchers in _selectors(expr):
        if "_" in metric:
            words.append(metric)
        for m in _MATCHER.finditer(matchers):
            label, op = m.group(1), m.group(2)
            value = m.group(3) or m.group(4) or m.group(5) or ""
            if op != "=" or not value or _REGEX_CHARS.search(value):
                continue
            if label not in _WHERE or (metric == "up" and label == "job"):
                words.append(value)
    return " ".join(words)


def _selectors(expr: str) -> list[tuple[str, str]]:
    """(metric name or "", matchers text) of each selector; bare metric names too."""
    found = [(m.group(1) or "", m.group(2)) for m in _SELECTOR.finditer(expr)]
    bare = _SELECTOR.sub(" ", _QUOTED.sub(" ", expr))
    found += [(name, "") for name in _IDENT.findall(bare)
              if "_" in name and name not in _NOT_METRICS]
    return found


def name_words(entry: Entry) -> list[str]:
    """The stemmed words of a runbook's file name (`KubeProxyDown` → kube, proxy, down)."""
    return list(_name_tokens(entry.name))


@lru_cache(maxsize=4096)
def _name_tokens(name: str) -> tuple[str, ...]:
    return tuple(tokens(name, joined=False))


@lru_cache(maxsize=4096)
def _name_plain(name: str) -> tuple[str, ...]:
    return tuple(plain_words(name))


def _covered(name: list[str], measured: set[str]) -> set[str]:
    """The name's words the expression has, alone or as a compound of two neighbours (metric
    names write `statefulset` where runbook names write `StatefulSet`)."""
    out = {w for w in name if w in measured or _affix(w, measured)}
    for a, b in zip(name, name[1:], strict=False):
        if a + b in measured:
            out |= {a, b}
    return out


def _affix(word: str, measured: set[str]) -> bool:
    """Whether a measured word and the name's word are one word in two forms, one a prefix of
    the other (`renew` in the metric, `renewal` in the name; the stemmer is light on purpose).
    Five letters at least: shorter prefixes (`pod`, `node`) start unrelated words."""
    return len(word) >= _AFFIX and any(
        len(m) >= _AFFIX and (word.startswith(m) or m.startswith(word)) for m in measured)


def name_scores(alert: Alert, entries: Sequence[Entry]) -> dict[str, float]:
    """Runbook id → the IDF-weighted share of its name the expression covers (0..1); runbooks
    the expression does not touch are left out."""
    measured = measure_words(alert) | set(tokens(objectless(prose(alert), alert), joined=False))
    if not measured:
        return {}
    names = {e.id: set(name_words(e)) for e in entries}
    df: dict[str, int] = {}
    for words in names.values():
        for w in words:
            df[w] = df.get(w, 0) + 1
    n = len(names)
    ordered = {e.id: name_words(e) for e in entries}
    out = {}
    for rid, words in names.items():
        # fsum: exactly rounded whatever the set's order (which the hash seed picks), so a
        # fully covered name scores exactly 1.0 in every process.
        total = math.fsum(math.log(1 + n / df[w]) for w in words)
        hit = math.fsum(math.log(1 + n / df[w]) for w in words & _covered(ordered[rid], measured))
        if hit > 0 and total > 0:
            out[rid] = hit / total
    return out


def spelled(alert: Alert, entries: Sequence[Entry]) -> str | None:
    """The one runbook whose whole name (every word, "Down" and "Not" included; two words at
    least) the expression spells, or None when no runbook's or more than one's is."""
    expr = promql_of(alert.generator_url)
    if _OR.search(_QUOTED.sub(" ", expr)):
        # `a or b` measures several conditions, each perhaps another runbook's (a rollout stuck
        # = pods misscheduled or not updated or not available): its words spell no single one.
        return None
    measured = set(plain_words(measure_text(expr)))
    if _UP.search(expr):
        measured.add("down")  # `up` is Prometheus' target health: a rule on it is about "down"
    full = []
    for e in entries:
        name = list(_name_plain(e.name))
        if len(set(name)) >= 2 and set(name) <= _covered(name, measured):
            full.append(e.id)
    return full[0] if len(full) == 1 else None
