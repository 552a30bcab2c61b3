"""Coverage: does a runbook explain what the alert says went wrong? The second abstention test.

BM25 relevance (`search.py`) asks whether one section of a runbook matches the alert's words
well. An alert about a system no runbook covers can pass that test on shared vocabulary: "etcd
cluster has no leader" against a runbook that names etcd once in a list of examples,
"Prometheus is failing rule evaluations" against the scrape-targets runbook, whose title says
Prometheus. Coverage asks instead what share of the alert's *problem words* the runbook as a
whole uses:

    coverage = sum(w(t) * tf(t) / (tf(t) + K)) / sum(w(t))

over the alert's problem terms t, each weighted by its IDF among the indexed chunks (a word no
chunk uses counts at the highest IDF: the knowledge base does not know it) and credited by how
often the runbook uses it: a passing mention earns a third, a word the runbook is about nearly
all of it.

Problem terms are the words of the annotations (what relevance is measured against, see
`query.core_fields`) without:
- the names the labels carry (`job`, `namespace`, `pod`, `service`, ...; failure-mode labels
  such as `reason` or `condition` stay): "etcd" or "checkout" say where something failed, not
  what failed, and a runbook naming etcd in passing does not explain etcd's failures;
- quantities (`5m`, `2.1s`, `512Mi`, `99th`) and the words alert templates wrap around them
  ("in the last 5 minutes", "less than half", "is using");
- the joined form of split identifiers, a ranking device that says nothing its parts do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orchestrator.events import Alert
from orchestrator.knowledge.query import core_fields
from orchestrator.knowledge.sparse import CorpusStats, idf, term_id
from orchestrator.knowledge.tokenize import stem, tokens

# Saturation of a runbook's term frequency: one mention earns 1/3 of a term's weight, two 1/2,
# six 3/4 (title words count three times per section, so a runbook's subject saturates).
K = 2.0
# On the test alerts (tests/events/retrieval_alerts.jsonl) the runbook an alert belongs to
# covers it 0.36 or more, while near-topic alerts no runbook covers (etcd, CoreDNS, Prometheus
# rule evaluation, Thanos, Kafka, ...) reach at most 0.28 with any runbook; on the 108
# kube-prometheus runbooks (alertname hidden, bench/retrieval_bench.py) it costs 2 of the 106
# correct answers, whose runbooks do not use the alert's words.
MIN_COVERAGE = 0.3

# Labels whose values say what went wrong rather than which thing it happened to.
_FAILURE_LABELS = frozenset({
    "reason", "condition", "phase", "state", "status", "code", "type", "resource", "verb",
    "scope", "fstype",
})
# Time, quantity and comparison words that alert templates put around the problem.
_GENERIC = frozenset(stem(w) for w in (
    "ago", "almost", "already", "around", "based", "current", "day", "different", "due",
    "every", "expected", "half", "hour", "indicates", "last", "least", "less", "likely",
    "longer", "many", "minute", "month", "much", "multiple", "near", "new", "number", "often",
    "possible", "possibly", "recent", "second", "seen", "several", "shorter", "since", "still",
    "time", "total", "use", "used", "using", "value", "week", "year",
))


def _words(text: str) -> Iterable[str]:
    for t in tokens(text, joined=False):
        if t[0].isalpha() and t not in _GENERIC:
            yield t


def problem_terms(alert: Alert) -> dict[str, float]:
    """The alert's problem words with their field weights summed (see the module docstring)."""
    names = {t for key, value in alert.labels.items()
             if key != "alertname" and key not in _FAILURE_LABELS
             for t in tokens(value, joined=False)}
    tf: dict[str, float] = {}
    for text, weight in core_fields(alert):
        for t in _words(text):
            if t not in names:
                tf[t] = tf.get(t, 0.0) + weight
    return tf


def runbook_terms(chunk_terms: Iterable[Mapping[str, float]]) -> dict[int, float]:
    """A runbook's weighted term frequencies, summed over its chunks and keyed by term id."""
    out: dict[int, float] = {}
    for tf in chunk_terms:
        for t, f in tf.items():
            i = term_id(t)
            out[i] = out.get(i, 0.0) + f
    return out


@dataclass(frozen=True)
class CoverageQuery:
    """An alert's problem terms as term id → weight, ready to score runbooks against."""

    weights: dict[int, float]

    @classmethod
    def of(cls, alert: Alert, stats: CorpusStats) -> CoverageQuery:
        weights: dict[int, float] = {}
        for t, f in problem_terms(alert).items():
            i = term_id(t)
            # Repeats count with diminishing returns, as in the BM25 query vector.
            q = f ** 0.5 if f > 1 else f
            weights[i] = weights.get(i, 0.0) + q * idf(stats.n_docs, stats.df.get(i, 0))
        return cls(weights)

    def score(self, runbook: Mapping[int, float]) -> float:
        """0..1; 1.0 when the alert has no problem words at all (nothing to hold against it)."""
        total = sum(self.weights.values())
        if total <= 0:
            return 1.0
        got = 0.0
        for i, w in self.weights.items():
            tf = runbook.get(i, 0.0)
            got += w * tf / (tf + K)
        return got / total
