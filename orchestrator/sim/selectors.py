"""Pure helpers for the simulated kube-apiserver: label and field selectors.

Nothing here knows about HTTP or the store; bad selectors raise :class:`ApiError` (400).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import JSON, bad_request

# --------------------------------------------------------------------------------------------
# Label selectors (string form, as sent in ?labelSelector=)
# --------------------------------------------------------------------------------------------

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")

Matcher = Callable[[dict[str, str]], bool]


def _split_top_level(selector: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in (x.strip() for x in parts) if p]


def _label_in(key: str, values: set[str], inside: bool) -> Callable[[dict[str, str]], bool]:
    """`key in (values)` / `key=value` (inside), or `key notin (values)` / `key!=value`."""
    if inside:
        return lambda lb: key in lb and lb[key] in values
    return lambda lb: key not in lb or lb[key] not in values


def _label_exists(key: str, present: bool) -> Callable[[dict[str, str]], bool]:
    return lambda lb: (key in lb) == present


def _field_is(field: str, value: str, equal: bool) -> Callable[[JSON], bool]:
    return lambda obj: (_field_value(obj, field) == value) == equal


def parse_label_selector(selector: str | None) -> Matcher:
    """Parse ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` into a predicate over a labels dict."""
    if not selector or not selector.strip():
        return lambda _labels: True
    terms: list[Matcher] = []
    for term in _split_top_level(selector):
        m = _SET_RE.match(term)
        if m:
            key, op, raw = m.group(1), m.group(2), m.group(3)
            values = {v.strip() for v in raw.split(",") if v.strip()}
            if op == "in":
                terms.append(_label_in(key, values, True))
            else:
                terms.append(_label_in(key, values, False))
            continue
        m = _EQ_RE.match(term)
        if m:
            key, op, val = m.group(1), m.group(2), m.group(3)
            if op == "!=":
                terms.append(_label_in(key, {val}, False))
            else:
                terms.append(_label_in(key, {val}, True))
            continue
        m = _EXISTS_RE.match(term)
        if m:
            neg, key = m.group(1) == "!", m.group(2)
            if neg:
                terms.append(_label_exists(key, False))
            else:
                terms.append(_label_exists(key, True))
            continue
        raise bad_request(f"unable to parse requirement: invalid label selector term {term!r}")
    return lambda labels: all(t(labels) for t in terms)


def match_label_selector_object(selector: JSON | None, labels: dict[str, str]) -> bool:
    """Match a structured ``LabelSelector`` (matchLabels + matchExpressions).

    ``None`` selects nothing; ``{}`` selects everything (policy/v1 PDB semantics).
    """
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], set(expr.get("values") or [])
        if op == "In" and not (key in labels and labels[key] in values):
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def label_selector_to_string(selector: JSON | None) -> str:
    """Render a structured selector the way the apiserver does in ``Scale.status.selector``."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key = expr["operator"], expr["key"]
        vals = ",".join(sorted(expr.get("values") or []))
        parts.append(
            {"In": f"{key} in ({vals})", "NotIn": f"{key} notin ({vals})", "Exists": key}.get(
                op, f"!{key}"
            )
        )
    return ",".join(parts)


# --------------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------------

_COMMON_FIELDS = {"metadata.name", "metadata.namespace"}
SUPPORTED_FIELDS: dict[str, set[str]] = {
    "pods": {
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
    },
    "events": {
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
    },
    "events.events.k8s.io": {
        "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
        "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath",
        "reason", "reportingController", "type",
    },
    "nodes": {"spec.unschedulable"},
    "namespaces": {"status.phase"},
    "secrets": {"type"},
    "replicasets.apps": {"status.replicas"},
    "jobs.batch": {"status.successful"},
}


def _field_value(obj: JSON, path: str) -> str:
    if path == "source":  # core/v1 Event: 'source' means source.component
        path = "source.component"
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(selector: str | None, resource: str) -> Callable[[JSON], bool]:
    """Parse ``a.b=c,d!=e`` for the fields the real apiserver supports on ``resource``."""
    if not selector or not selector.strip():
        return lambda _obj: True
    allowed = _COMMON_FIELDS | SUPPORTED_FIELDS.get(resource, set())
    terms: list[Callable[[JSON], bool]] = []
    for term in _split_top_level(selector):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        field, op, val = m.groups()
        if field not in allowed:
            raise bad_request(f'field label not supported: {field}')
        if op == "!=":
            terms.append(_field_is(field, val, False))
        else:
            terms.append(_field_is(field, val, True))
    return lambda obj: all(t(obj) for t in terms)
