"""Reading fields out of raw Kubernetes objects (JSON dicts), redacting free text on the way.

Every converter in `orient` goes through these helpers, so no message, label or annotation
reaches the context without passing `Scrubber`, and every redaction is recorded by where it
happened (never by what it was).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from orchestrator.adapters.kube_kinds import prefixes
from orchestrator.adapters.kube_reads import KINDS
from orchestrator.context import Condition, ObjectRef
from orchestrator.owners import qualified_kind
from orchestrator.redact import redact_mapping, scan, summarize
from orchestrator.times import rfc3339_or_none

Json = dict[str, Any]

# Holds the whole previous spec, env values included; nothing in it is worth its size.
DROPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
MAX_TEXT = 1000  # characters of one message or annotation value kept
_PREFIXES = prefixes(KINDS)


class Scrubber:
    """Redacts text and remembers, per place, the kinds of secret it removed."""

    def __init__(self) -> None:
        self._found: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def text(self, value: Any, where: str, limit: int = MAX_TEXT) -> str | None:
        if value is None or value == "":
            return None
        clean, kinds = scan(str(value))
        if kinds:
            self._record(where, kinds)
        return _clip(clean, limit)

    def raw(self, value: str, where: str) -> str:
        """Redact a large text whole (a log), before it is split or cut."""
        clean, kinds = scan(value)
        if kinds:
            self._record(where, kinds)
        return clean

    def mapping(self, values: Any, where: str) -> dict[str, str]:
        if not isinstance(values, dict):
            return {}
        kept = {str(k): str(v) for k, v in values.items() if k not in DROPPED_ANNOTATIONS}
        # Redact whole values, then clip: a secret cut in half may no longer look like one.
        clean = redact_mapping(kept, lambda key, kinds: self._record(f"{where}[{key}]", kinds))
        return {k: _clip(v, MAX_TEXT) for k, v in clean.items()}

    def _record(self, where: str, kinds: list[str]) -> None:
        with self._lock:
            self._found.setdefault(where, []).extend(kinds)

    def records(self) -> list[str]:
        """`<kinds> in <where>`, one per place, in the order found."""
        with self._lock:
            return [f"{summarize(kinds)} in {where}" for where, kinds in self._found.items()]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def meta(obj: Json) -> Json:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def spec(obj: Json) -> Json:
    s = obj.get("spec")
    return s if isinstance(s, dict) else {}


def status(obj: Json) -> Json:
    s = obj.get("status")
    return s if isinstance(s, dict) else {}


def ref_of(obj: Json, kind: str | None = None) -> ObjectRef:
    m = meta(obj)
    return ObjectRef(kind=kind or str(obj.get("kind") or ""), name=str(m.get("name") or ""),
                     namespace=m.get("namespace") or None, uid=m.get("uid") or None)


def created(obj: Json) -> str:
    """The object's creationTimestamp, "" when missing: RFC 3339 in UTC sorts as text, so this
    is the sort key for "newest first"."""
    return str(meta(obj).get("creationTimestamp") or "")


def owned_by(obj: Json, uid: str | None) -> bool:
    """Whether one of the object's ownerReferences points at the object with this uid."""
    return any(isinstance(o, dict) and o.get("uid") == uid
               for o in meta(obj).get("ownerReferences") or [])


def describe(obj: Json) -> str:
    """`Kind ns/name` for error and redaction records."""
    m = meta(obj)
    where = f"{m['namespace']}/{m.get('name')}" if m.get("namespace") else str(m.get("name"))
    return f"{obj.get('kind')} {where}"


def controller_of(obj: Json) -> ObjectRef | None:
    """The owner reference with `controller: true` (the one that recreates this object).

    Its kind is the built-in one only when the reference's API group is that kind's: a
    controller of another group keeps its group (`StatefulSet.apps.kruise.io`), so it is never
    read, nor taken for, the built-in kind of the same name (`orchestrator.owners`)."""
    for owner in meta(obj).get("ownerReferences") or []:
        if owner.get("controller"):
            kind = qualified_kind(str(owner.get("kind")), str(owner.get("apiVersion") or ""),
                                  _PREFIXES)
            return ObjectRef(kind=kind, name=str(owner.get("name")),
                             namespace=meta(obj).get("namespace") or None,
                             uid=owner.get("uid") or None)
    return None


def when(value: Any) -> datetime | None:
    """A Kubernetes timestamp (RFC 3339, `orchestrator.times`), or None when there is none."""
    return rfc3339_or_none(value)


def integer(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def conditions(items: Any, scrub: Scrubber, where: str) -> list[Condition]:
    out = []
    for c in items or []:
        if not isinstance(c, dict) or not c.get("type"):
            continue
        out.append(Condition(
            type=str(c["type"]), status=str(c.get("status") or "Unknown"),
            reason=c.get("reason") or None,
            message=scrub.text(c.get("message"), f"{where} condition {c['type']}"),
            last_transition=when(c.get("lastTransitionTime"))))
    return out


def quantities(values: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


def label_selector(selector: Any) -> str | None:
    """A LabelSelector object as the `labelSelector` query string; None when it selects all."""
    if not isinstance(selector, dict):
        return None
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            terms.append(str(key))
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms) or None
