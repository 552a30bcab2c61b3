"""Pure helpers for the fake kube-apiserver: selectors and the three PATCH flavours.

Nothing here knows about HTTP or the store. Errors are raised as :class:`ApiError`, which the
server turns into a ``Status`` body with the same code/reason the real apiserver would use.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]


class ApiError(Exception):
    """An error the fake answers with a ``kind: Status`` body."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: JSON | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JSON:
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


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
                terms.append(lambda lb, k=key, vs=values: k in lb and lb[k] in vs)
            else:
                terms.append(lambda lb, k=key, vs=values: k not in lb or lb[k] not in vs)
            continue
        m = _EQ_RE.match(term)
        if m:
            key, op, val = m.group(1), m.group(2), m.group(3)
            if op == "!=":
                terms.append(lambda lb, k=key, v=val: lb.get(k) != v)
            else:
                terms.append(lambda lb, k=key, v=val: k in lb and lb[k] == v)
            continue
        m = _EXISTS_RE.match(term)
        if m:
            neg, key = m.group(1) == "!", m.group(2)
            if neg:
                terms.append(lambda lb, k=key: k not in lb)
            else:
                terms.append(lambda lb, k=key: k in lb)
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
            terms.append(lambda o, f=field, v=val: _field_value(o, f) != v)
        else:
            terms.append(lambda o, f=field, v=val: _field_value(o, f) == v)
    return lambda obj: all(t(obj) for t in terms)


# --------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386)
# --------------------------------------------------------------------------------------------


def json_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


# --------------------------------------------------------------------------------------------
# Strategic merge patch (the subset of patchStrategy/patchMergeKey tags that matter here)
# --------------------------------------------------------------------------------------------

# List fields with patchStrategy=merge, by field name (context-free simplification).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "addresses": "type",
}
_PRIMITIVE_MERGE_LISTS = {"finalizers"}


def _list_merge_key(field: str, orig: list[Any], patch: list[Any]) -> str | None:
    if field == "ports":  # container ports merge on containerPort, service ports on port
        sample = [x for x in orig + patch if isinstance(x, dict)]
        return "containerPort" if any("containerPort" in x for x in sample) else "port"
    return _MERGE_KEYS.get(field)


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not (isinstance(v, dict) and "$patch" in v)]
    return copy.deepcopy(value)


def _merge_list(field: str, orig: Any, patch: list[Any]) -> list[Any]:
    orig_list = copy.deepcopy(orig) if isinstance(orig, list) else []
    if field in _PRIMITIVE_MERGE_LISTS:
        return orig_list + [x for x in patch if x not in orig_list]
    key = _list_merge_key(field, orig_list, patch)
    if key is None:
        return _strip_directives(patch)  # type: ignore[no-any-return]
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return _strip_directives([x for x in patch if not (isinstance(x, dict) and "$patch" in x)])  # type: ignore[no-any-return]
    result = orig_list
    for item in patch:
        if not isinstance(item, dict):
            result.append(copy.deepcopy(item))
            continue
        idx = next(
            (i for i, cur in enumerate(result) if isinstance(cur, dict) and cur.get(key) == item.get(key)),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
            continue
        if idx is None:
            result.append(_strip_directives(item))
        else:
            result[idx] = strategic_merge_patch(result[idx], item)
    return result


def strategic_merge_patch(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = strategic_merge_patch(result.get(key), value)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


# --------------------------------------------------------------------------------------------
# JSON patch (RFC 6902)
# --------------------------------------------------------------------------------------------


def _invalid_patch(message: str) -> ApiError:
    # What apiserver's NewGenericServerResponse(422, ...) produces for a failed JSON patch.
    return ApiError(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": message}]},
    )


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _invalid_patch(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve_parent(doc: Any, parts: list[str], path: str) -> tuple[Any, str]:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise _invalid_patch(f'doc is missing path: "{path}": missing value')
    return cur, parts[-1]


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent, last = _resolve_parent(doc, parts, path)
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise _invalid_patch(f'doc is missing path: "{path}": missing value')


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent, last = _resolve_parent(doc, parts, path)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _invalid_patch(f'remove operation does not apply: doc is missing path: "{path}"')


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    parent, last = _resolve_parent(doc, parts, path)
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _invalid_patch(f'replace operation does not apply: doc is missing key: {path}')
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(copy.deepcopy(value))
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = copy.deepcopy(value)
            else:
                parent.insert(int(last), copy.deepcopy(value))
        else:
            raise _invalid_patch(f"{'replace' if replace else 'add'} operation does not apply: "
                                 f'doc is missing path: "{path}"')
    else:
        raise _invalid_patch(f'doc is missing path: "{path}": missing value')
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    result = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise _invalid_patch(f"missing value for {kind} operation at {path}")
        if kind == "add":
            result = _add(result, path, op["value"])
        elif kind == "replace":
            if path == "":
                result = copy.deepcopy(op["value"])
            else:
                result = _add(result, path, op["value"], replace=True)
        elif kind == "remove":
            _remove(result, path)
        elif kind == "move":
            value = _remove(result, op["from"])
            result = _add(result, path, value)
        elif kind == "copy":
            result = _add(result, path, _get(result, op["from"]))
        elif kind == "test":
            try:
                current = _get(result, path)
            except ApiError:
                raise _invalid_patch(f"testing value {path} failed: test failed") from None
            if current != op["value"]:
                raise _invalid_patch(f"testing value {path} failed: test failed")
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return result
