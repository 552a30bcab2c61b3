"""Pure helpers for the simulated kube-apiserver: the three PATCH flavours.

Nothing here knows about HTTP or the store. Errors are raised as :class:`ApiError`, which the
server turns into a ``Status`` body with the same code/reason the real apiserver would use.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError, bad_request

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
            (i for i, cur in enumerate(result)
             if isinstance(cur, dict) and cur.get(key) == item.get(key)),
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
