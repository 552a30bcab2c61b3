"""REST semantics of the simulated kube-apiserver: URL routing, verbs, subresources.

``dispatch`` maps one parsed request onto the :class:`Store` and returns either a
:class:`Response` or, for ``?watch=true``, a :class:`WatchRequest` that the HTTP layer streams.
Discovery, logs and watch events live in ``discovery``, ``logs`` and ``watch``;
the wire types in ``wire``.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

from .discovery import VERSION_INFO, discovery, resource_list
from .errors import JSON, ApiError, bad_request
from .logs import read_log
from .patch import json_merge_patch, json_patch, strategic_merge_patch
from .resources import GROUP_VERSIONS, ResourceType
from .selectors import label_selector_to_string, parse_field_selector, parse_label_selector
from .store import Store
from .wire import (
    Request,
    Response,
    WatchRequest,
    json_response,
    not_allowed,
    not_found,
    success_status,
    truthy,
)

PATCH_TYPES: dict[str, Callable[[Any, Any], Any]] = {
    "application/strategic-merge-patch+json": strategic_merge_patch,
    "application/merge-patch+json": json_merge_patch,
    "application/json-patch+json": json_patch,
}


def _dry_run(req: Request, body_options: Any = None) -> bool:
    values = [v for k, v in req.query_list if k == "dryRun"]
    if isinstance(body_options, dict):
        values += list(body_options.get("dryRun") or [])
    for v in values:
        if v != "All":
            raise bad_request(f'Invalid dryRun value: "{v}": supported values: "All"')
    return bool(values)


def _json_body(req: Request) -> JSON:
    if not isinstance(req.body, dict):
        raise bad_request("the body of the request could not be decoded as a JSON object")
    return req.body


# ---- routing -------------------------------------------------------------------------------


def dispatch(store: Store, req: Request, server_address: str) -> Response | WatchRequest:
    segs = [s for s in req.path.split("/") if s]
    if req.path.rstrip("/") == "/version" and req.method == "GET":
        return json_response(200, VERSION_INFO)
    if segs and segs[0] in ("healthz", "livez", "readyz") and req.method == "GET":
        return Response(200, b"ok", "text/plain; charset=utf-8")
    disc = discovery(segs, server_address)
    if disc is not None:
        if req.method != "GET":
            raise not_allowed()
        return json_response(200, disc)
    if len(segs) >= 2 and segs[0] == "api":
        gv, rest = segs[1], segs[2:]
    elif len(segs) >= 3 and segs[0] == "apis":
        gv, rest = f"{segs[1]}/{segs[2]}", segs[3:]
    else:
        raise not_found()
    if gv not in GROUP_VERSIONS:
        raise not_found()
    if not rest:
        if req.method != "GET":
            raise not_allowed()
        return json_response(200, resource_list(gv))
    by_plural = {rt.plural: rt for rt in GROUP_VERSIONS[gv]}
    ns: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] in by_plural \
            and by_plural[rest[2]].namespaced:
        ns, rt, tail = rest[1], by_plural[rest[2]], rest[3:]
    elif rest[0] in by_plural:
        rt, tail = by_plural[rest[0]], rest[1:]
        if rt.namespaced and tail:
            raise not_found()
    else:
        raise not_found()
    if len(tail) > 2 or (len(tail) == 2 and tail[1] not in rt.subresources):
        raise not_found()
    name = tail[0] if tail else None
    sub = tail[1] if len(tail) == 2 else None
    with store.lock:
        if name is None:
            return _collection(store, req, rt, ns)  # type: ignore[no-any-return]
        if sub is None:
            return _item(store, req, rt, ns, name)
        return _subresource(store, req, rt, ns or "", name, sub)


def _collection(store: Store, req: Request, rt: ResourceType, ns: str | None) -> Any:
    label_match = parse_label_selector(req.query.get("labelSelector"))
    field_match = parse_field_selector(req.query.get("fieldSelector"), rt.key)

    def matches(obj: JSON) -> bool:
        return label_match(obj["metadata"].get("labels") or {}) and field_match(obj)

    if req.method == "GET" and truthy(req.query.get("watch")):
        timeout = float(req.query.get("timeoutSeconds") or 1800)
        return WatchRequest(rt, ns, matches, req.query.get("resourceVersion"), timeout,
                            truthy(req.query.get("allowWatchBookmarks")))
    if req.method == "GET":
        return json_response(200, _list(store, req, rt, ns, matches))
    if rt.namespaced and ns is None:
        raise not_allowed()
    if req.method == "POST":
        created = store.create(rt, ns, _json_body(req), dry_run=_dry_run(req))
        return json_response(201, created)
    if req.method == "DELETE":
        options = req.body if isinstance(req.body, dict) else {}
        dry = _dry_run(req, options)
        doomed = [o for o in store.objects(rt, ns) if matches(o)]
        items = [store.delete(rt, ns, o["metadata"]["name"], options, dry_run=dry)
                 for o in doomed]
        return json_response(200, {"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                                   "metadata": {"resourceVersion": str(store.resource_version)},
                                   "items": items})
    raise not_allowed()


def _list(store: Store, req: Request, rt: ResourceType, ns: str | None,
          matches: Callable[[JSON], bool]) -> JSON:
    items = [o for o in store.objects(rt, ns) if matches(o)]
    token = req.query.get("continue")
    if token:
        try:
            after = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
        except (ValueError, KeyError, TypeError):
            raise ApiError(400, "BadRequest", "continue key is not valid") from None
        items = [o for o in items if _sort_key(o) > tuple(after)]
    meta: JSON = {"resourceVersion": str(store.resource_version)}
    limit = int(req.query.get("limit") or 0)
    if limit > 0 and len(items) > limit:
        remaining = len(items) - limit
        items = items[:limit]
        meta["continue"] = base64.urlsafe_b64encode(
            json.dumps({"start": list(_sort_key(items[-1]))}).encode()).decode()
        if not req.query.get("labelSelector") and not req.query.get("fieldSelector"):
            meta["remainingItemCount"] = remaining
    return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta,
            "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                      for o in items]}


def _sort_key(obj: JSON) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _patch(req: Request, current: JSON) -> JSON:
    ctype = (req.content_type or "").lower()
    if ctype.startswith("application/apply-patch"):
        raise ApiError(415, "UnsupportedMediaType",
                       "simulated kube-apiserver: server-side apply is not supported", {})
    if ctype not in PATCH_TYPES:
        raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown "
                       "format - accepted media types include: application/json-patch+json, "
                       "application/merge-patch+json, application/apply-patch+yaml, "
                       "application/strategic-merge-patch+json", {})
    if isinstance(req.body, (str, bytes)) or req.body is None:
        raise bad_request("the body of the request could not be decoded as JSON")
    if ctype != "application/json-patch+json" and not isinstance(req.body, dict):
        raise bad_request("json: cannot unmarshal array into Go value of type "
                          "map[string]interface {}")
    patched = PATCH_TYPES[ctype](copy.deepcopy(current), req.body)
    if not isinstance(patched, dict):
        raise bad_request("patch produced a non-object document")
    return patched


def _item(store: Store, req: Request, rt: ResourceType, ns: str | None, name: str) -> Response:
    if truthy(req.query.get("watch")):
        raise ApiError(405, "MethodNotAllowed", "simulated kube-apiserver: watch on a "
                       "single object "
                       "path is not supported; watch the collection with "
                       "fieldSelector=metadata.name=<name>", {})
    if req.method == "GET":
        return json_response(200, store.must_get(rt, ns, name))
    if req.method == "PUT":
        return json_response(200, store.update(rt, ns, name, _json_body(req),
                                               dry_run=_dry_run(req)))
    if req.method == "PATCH":
        patched = _patch(req, store.must_get(rt, ns, name))
        return json_response(200, store.update(rt, ns, name, patched, dry_run=_dry_run(req)))
    if req.method == "DELETE":
        options = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        for key in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents"):
            if key in req.query and key not in options:
                value: Any = req.query[key]
                options[key] = int(value) if key == "gracePeriodSeconds" else \
                    (truthy(value) if key == "orphanDependents" else value)
        result = store.delete(rt, ns, name, options, dry_run=_dry_run(req, options))
        if rt.return_deleted or result["metadata"].get("finalizers"):
            return json_response(200, result)
        return json_response(200, success_status(
            details=rt.details(name, uid=result["metadata"]["uid"])))
    raise not_allowed()


def _subresource(store: Store, req: Request, rt: ResourceType, ns: str, name: str,
                 sub: str) -> Response:
    if sub == "log" and req.method == "GET":
        return read_log(store, req, ns, name)
    if sub == "eviction" and req.method == "POST":
        body = _json_body(req)
        meta = body.get("metadata") or {}
        if meta.get("name") != name:
            raise bad_request("name in URL does not match name in Eviction object")
        if meta.get("namespace", ns) != ns:
            raise bad_request("namespace in URL does not match namespace in Eviction object")
        options = body.get("deleteOptions") or {}
        store.evict(ns, name, options, dry_run=_dry_run(req, options))
        return json_response(201, success_status(201))
    if sub == "status" and req.method in ("GET", "PUT", "PATCH"):
        current = store.must_get(rt, ns, name)
        if req.method == "GET":
            return json_response(200, current)
        body = _json_body(req) if req.method == "PUT" else \
            _patch(req, current)
        return json_response(200, store.update(rt, ns, name, body, dry_run=_dry_run(req),
                                               mode="status"))
    if sub == "scale" and req.method in ("GET", "PUT", "PATCH"):
        current = store.must_get(rt, ns, name)
        scale = _scale(current)
        if req.method == "GET":
            return json_response(200, scale)
        new_scale = _json_body(req) if req.method == "PUT" else \
            _patch(req, scale)
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: '
                           "spec.replicas: Invalid value: must be greater than or equal to 0",
                           {"name": name, "group": "autoscaling", "kind": "Scale"})
        body = copy.deepcopy(current)
        body["spec"]["replicas"] = replicas
        body["metadata"]["resourceVersion"] = (new_scale.get("metadata") or {}).get(
            "resourceVersion") or current["metadata"]["resourceVersion"]
        return json_response(200, _scale(store.update(rt, ns, name, body,
                                                      dry_run=_dry_run(req))))
    raise not_allowed()


def _scale(obj: JSON) -> JSON:
    meta = obj["metadata"]
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                           "creationTimestamp") if k in meta},
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": label_selector_to_string((obj.get("spec") or {}).get("selector"))},
    }
