"""What an alert says about its problem, as weighted text: the query side of retrieval.

The alertname and the summary/description carry most of the meaning; label *names* say what
kind of object is involved (`statefulset`, `persistentvolumeclaim`, `integration`); some label
values name the failure (`reason="CrashLoopBackOff"`, `job="kube-state-metrics"`) while others
are an object's own name (a pod hash, an IP) and only add noise. The PromQL expression behind
`generatorURL` names the metrics, which runbooks often quote.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from orchestrator.events import Alert
from orchestrator.knowledge.chunks import Chunk

# Labels that identify where, not what: their names and values are left out.
_SKIP_LABELS = frozenset({
    "alertname", "severity", "prometheus", "cluster", "instance", "endpoint", "uid",
    "fingerprint", "replica", "prometheus_replica", "receive", "tenant_id", "metrics_path",
})
# Labels whose values name a failure mode or a component rather than a user's object.
_TELLING_VALUES = frozenset({
    "reason", "job", "container", "service", "integration", "condition", "resource", "phase",
    "fstype", "mountpoint", "device", "type", "status", "code", "verb", "scope", "controller",
    "component", "app", "app_kubernetes_io_name", "k8s_app", "state",
})
_TEXT_ANNOTATIONS = ("summary", "description", "message")
_SKIP_ANNOTATIONS = frozenset({"runbook_url", "runbook", "dashboard", "dashboard_url"})

_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")
_PROMQL_WORDS = frozenset({
    "rate", "irate", "increase", "sum", "avg", "max", "min", "count", "stddev", "stdvar", "topk",
    "bottomk", "quantile", "count_values", "avg_over_time", "max_over_time", "min_over_time",
    "sum_over_time", "count_over_time", "quantile_over_time", "last_over_time",
    "present_over_time", "stddev_over_time", "histogram_quantile", "predict_linear",
    "label_replace", "label_join", "absent", "absent_over_time", "changes", "resets", "deriv",
    "delta", "idelta", "clamp", "clamp_max", "clamp_min", "abs", "ceil", "floor", "round", "exp",
    "ln", "log2", "log10", "sqrt", "time", "timestamp", "vector", "scalar", "sort", "sort_desc",
    "group", "group_left", "group_right", "on", "ignoring", "by", "without", "offset", "bool",
    "and", "or", "unless", "le", "inf", "nan",
})

# Field weights (term-frequency multipliers). Tuned on the kube-prometheus evaluation set with
# the alertname hidden, then checked on the team's own runbooks.
W_NAME = 2.0
W_TEXT = 1.0
W_OTHER_ANNOTATION = 0.5
W_LABEL_NAME = 0.25
W_LABEL_VALUE = 0.4
W_OBJECT_NAME = 0.2
W_EXPR = 0.2

W_DOC_TITLE = 3.0
W_DOC_NAME = 3.0
W_DOC_ALERTS = 1.0
W_DOC_HEADING = 1.0
W_DOC_TEXT = 1.0


def promql_of(generator_url: str) -> str:
    """The expression of a Prometheus `generatorURL` (`g0.expr`), or "" when there is none."""
    if not generator_url:
        return ""
    try:
        params = parse_qs(urlsplit(generator_url).query)
    except ValueError:
        return ""
    return params.get("g0.expr", [""])[0]


def expr_terms(expr: str) -> str:
    """Metric names and matcher values of a PromQL expression, without its function words."""
    if not expr:
        return ""
    quoted = [a or b for a, b in _QUOTED.findall(expr)]
    bare = _QUOTED.sub(" ", expr)
    metrics = [w for w in _IDENT.findall(bare) if w.lower() not in _PROMQL_WORDS and "_" in w]
    values = [q for q in quoted if q and not re.search(r"[.*+?|\\^$\[\]]", q)]
    return " ".join(metrics + values)


def core_fields(alert: Alert) -> list[tuple[str, float]]:
    """What the alert *says* in prose (its annotations): what a covering runbook must explain.

    Relevance is measured against this part only. Labels and the expression add evidence to
    the ranking but are not held against a runbook that does not repeat them, and neither is
    the alertname, which is often a team's own coinage ("PaymentsPagerAlert"); it stands in
    only when the alert carries no text at all.
    """
    fields = [(alert.annotations.get(key, ""), W_TEXT) for key in _TEXT_ANNOTATIONS]
    for key, value in sorted(alert.annotations.items()):
        if key not in _TEXT_ANNOTATIONS and key not in _SKIP_ANNOTATIONS and "url" not in key:
            fields.append((value, W_OTHER_ANNOTATION))
    if not any(text.strip() for text, _ in fields):
        fields = [(alert.name, W_NAME)]
    return fields


def alert_fields(alert: Alert) -> list[tuple[str, float]]:
    """The alert as (text, weight) pairs for the sparse query."""
    fields = [(alert.name, W_NAME)]
    fields += [f for f in core_fields(alert) if f[0] != alert.name]
    for key, value in sorted(alert.labels.items()):
        if key in _SKIP_LABELS or key.startswith("__"):
            continue
        fields.append((key, W_LABEL_NAME))
        weight = W_LABEL_VALUE if key in _TELLING_VALUES else W_OBJECT_NAME
        fields.append((value, weight))
    fields.append((expr_terms(promql_of(alert.generator_url)), W_EXPR))
    return fields


def alert_text(alert: Alert) -> str:
    """The alert as plain text for a dense embedding model."""
    lines = [f"Alert: {alert.name}"] if alert.name else []
    for key in _TEXT_ANNOTATIONS:
        if alert.annotations.get(key):
            lines.append(alert.annotations[key].strip())
    labels = [f"{k}={v}" for k, v in sorted(alert.labels.items())
              if k not in _SKIP_LABELS and not k.startswith("__")]
    if labels:
        lines.append("Labels: " + ", ".join(labels))
    return "\n".join(lines)


def semantic_text(alert: Alert) -> str:
    """The alert as plain text for the offline semantic model: its name, its prose and the label
    values that name a failure mode; not object names (pod hashes, IPs) or the expression,
    whose fragments only blur a static embedding. Object names and figures are taken out of the
    prose too (see `objectless`)."""
    return "\n".join(objectless(text, alert) for text, weight in alert_fields(alert)
                     if weight >= W_LABEL_VALUE and text.strip())


# A figure with its unit, if any: "12.47%", "15m", "3", "10.0.5.1"; not "5xx" or "ipv6".
def summary_text(alert: Alert) -> str:
    """The alert's headline (its summary, else its message) for the semantic model, without
    objects and figures; "" when it has none."""
    for key in ("summary", "message"):
        text = objectless(alert.annotations.get(key, ""), alert).strip()
        if text:
            return text
    return ""


def prose(alert: Alert) -> str:
    """What the alert says in words: its summary, description and message."""
    return "\n".join(alert.annotations.get(key, "") for key in _TEXT_ANNOTATIONS)


_FIGURE = re.compile(r"(?<![A-Za-z0-9])[-+]?[0-9][0-9.,:]*(?:%|(?:ms|[smhd]|[kmgt]i?b)\b)?"
                     r"(?![A-Za-z0-9])")
_NOT_OBJECTS = _TELLING_VALUES | {"alertname", "severity"}


def objectless(text: str, alert: Alert) -> str:
    """Prose without the objects and figures its template filled in.

    Summaries are templates over the alert's labels and value ("Filesystem on /dev/nvme0n1p1 at
    ip-10-0-5-1.compute.internal has only 12.47% left"): the object names and figures say where
    and how much, not what is wrong, and a static embedding sums every word piece, so `ip`,
    `10`, `west` or `compute` pull the alert towards whatever runbook mentions them. Values of
    labels that name a failure mode or a component (`reason`, `job`...) stay.
    """
    values = sorted({v for k, v in alert.labels.items()
                     if k not in _NOT_OBJECTS and len(v) > 1}, key=len, reverse=True)
    for value in values:
        text = text.replace(value, " ")
    return _FIGURE.sub(" ", text)


def chunk_fields(chunk: Chunk) -> list[tuple[str, float]]:
    """A chunk as (text, weight) pairs for its sparse vector."""
    return [
        (chunk.title, W_DOC_TITLE),
        (chunk.name, W_DOC_NAME),
        (" ".join(chunk.alerts), W_DOC_ALERTS),
        (chunk.heading, W_DOC_HEADING),
        (chunk.text, W_DOC_TEXT),
    ]


def chunk_text(chunk: Chunk) -> str:
    """A chunk as plain text for a dense embedding model."""
    return section_text(chunk.title, chunk.heading, chunk.text)


def section_text(title: str, heading: str, text: str) -> str:
    """`chunk_text` from a chunk's parts, as an indexed chunk's payload holds them."""
    return f"{title}\n{heading}\n\n{text}"
