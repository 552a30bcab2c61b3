"""Object store of the simulated kube-apiserver: lifecycle rules, watch history.

Everything happens under one lock; every change bumps a global resourceVersion counter and is
appended to a bounded history that watches replay from. The resource registry lives in
``resources``.
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .errors import JSON, ApiError
from .resources import PDBS, PODS, ResourceType, resolve, resource_for, rfc3339
from .selectors import match_label_selector_object


@dataclass(frozen=True)
class Change:
    rv: int
    rt: ResourceType
    type: str  # ADDED, MODIFIED, DELETED
    old: JSON | None
    new: JSON | None  # for DELETED: the final state, carrying the deletion's resourceVersion


_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


class Store:
    HISTORY = 20_000

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self._objs: dict[tuple[str, str, str], JSON] = {}
        self._rv = 0
        self._history: deque[Change] = deque(maxlen=self.HISTORY)
        self.closed = False
        self.logs: dict[tuple[str, str, str, bool], str] = {}
        self._compacted = 0  # watches from before this resourceVersion get 410 Gone

    def compact(self) -> int:
        """Forget the history up to now, as etcd compaction does: a watch resuming from an
        older resourceVersion is answered 410 Gone and must list again."""
        with self.cond:
            self._compacted = self._rv
            self._history.clear()
            self.cond.notify_all()
            return self._rv

    # ---- basics ------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def _bump(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _emit(self, rt: ResourceType, type_: str, old: JSON | None, new: JSON | None) -> None:
        self._history.append(Change(self._rv, rt, type_, copy.deepcopy(old), copy.deepcopy(new)))
        self.cond.notify_all()

    def get(self, rt: ResourceType, ns: str | None, name: str) -> JSON | None:
        return self._objs.get((rt.key, ns or "", name))

    def must_get(self, rt: ResourceType, ns: str | None, name: str) -> JSON:
        obj = self.get(rt, ns, name)
        if obj is None:
            raise rt.not_found(name)
        return obj

    def objects(self, rt: ResourceType, ns: str | None = None) -> list[JSON]:
        with self.lock:
            keys = sorted(k for k in self._objs if k[0] == rt.key and (not ns or k[1] == ns))
            return [self._objs[k] for k in keys]

    def changes_since(self, rv: int) -> list[Change] | None:
        """Changes after ``rv``; ``None`` when the history no longer reaches back that far."""
        with self.lock:
            full = len(self._history) == self.HISTORY
            if rv < self._compacted or (self._history and self._history[0].rv > rv + 1 and full):
                return None
            return [c for c in self._history if c.rv > rv]

    def wait_for_change(self, rv: int, timeout: float) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self._rv > rv or self.closed, timeout)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    # ---- create ------------------------------------------------------------------------------

    def create(self, rt: ResourceType, ns: str | None, body: JSON, *, dry_run: bool = False,
               from_api: bool = True) -> JSON:
        with self.lock:
            obj = copy.deepcopy(body)
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            meta = obj.setdefault("metadata", {})
            if rt.namespaced:
                if ns and meta.get("namespace") and meta["namespace"] != ns:
                    raise ApiError(400, "BadRequest", "the namespace of the provided object does "
                                   "not match the namespace sent on the request")
                meta["namespace"] = ns = ns or meta.get("namespace") or "default"
            else:
                meta.pop("namespace", None)
                ns = ""
            if not meta.get("name") and meta.get("generateName"):
                while True:
                    cand = meta["generateName"] + "".join(
                        secrets.choice(_NAME_CHARS) for _ in range(5))
                    if self.get(rt, ns, cand) is None:
                        meta["name"] = cand
                        break
            name = meta.get("name")
            if not name:
                raise ApiError(422, "Invalid", f'{rt.kind} "" is invalid: metadata.name: Required '
                               "value: name or generateName is required",
                               {"kind": rt.kind, "group": rt.group, "causes": [
                                   {"reason": "FieldValueRequired", "field": "metadata.name",
                                    "message": "Required value: name or generateName is "
                                    "required"}]})
            if self.get(rt, ns, name) is not None:
                raise ApiError(409, "AlreadyExists", f'{rt.key} "{name}" already exists',
                               rt.details(name))
            if from_api:
                for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation", "selfLink"):
                    meta.pop(k, None)
                if rt.has_status:
                    obj["status"] = copy.deepcopy(rt.default_status)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", rfc3339())
            if rt.has_generation:
                meta.setdefault("generation", 1)
            if dry_run:
                meta.pop("resourceVersion", None)
                return obj
            meta["resourceVersion"] = self._bump()
            self._objs[(rt.key, ns, name)] = obj
            self._emit(rt, "ADDED", None, obj)
            return copy.deepcopy(obj)

    # ---- update ------------------------------------------------------------------------------

    def update(self, rt: ResourceType, ns: str | None, name: str, body: JSON, *,
               dry_run: bool = False, check_rv: bool = True, mode: str = "main") -> JSON:
        """Replace an object. ``mode``: ``main`` (API: status kept), ``status`` (only status
        taken), ``all`` (test helpers: everything taken)."""
        with self.lock:
            old = self.must_get(rt, ns, name)
            new = copy.deepcopy(body)
            meta = new.setdefault("metadata", {})
            old_meta = old["metadata"]
            if meta.get("name", name) != name:
                raise ApiError(400, "BadRequest", f"the name of the object ({meta['name']}) does "
                               f"not match the name on the URL ({name})")
            old_ns = old_meta.get("namespace")
            if rt.namespaced and meta.get("namespace", old_ns) != old_ns:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not "
                               "match the namespace sent on the request")
            if meta.get("uid") and meta["uid"] != old_meta["uid"]:
                raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: "
                               f"{meta['uid']}, UID in object meta: {old_meta['uid']}",
                               rt.details(name))
            if check_rv and meta.get("resourceVersion") and \
                    meta["resourceVersion"] != old_meta["resourceVersion"]:
                raise conflict(rt, name)
            if mode == "status":
                status = new.get("status")
                new = copy.deepcopy(old)
                new["status"] = status
                meta = new["metadata"]
            elif mode == "main" and rt.has_status:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
            new["apiVersion"], new["kind"] = rt.api_version, rt.kind
            for k in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds"):
                if k in old_meta:
                    meta[k] = old_meta[k]
                else:
                    meta.pop(k, None)
            explicit = mode == "all" and meta.get("generation", old_meta.get("generation")) \
                != old_meta.get("generation")
            if rt.has_generation and not explicit:
                meta["generation"] = old_meta.get("generation", 1) + _spec_changed(old, new)
            elif not explicit and "generation" in old_meta:
                meta["generation"] = old_meta["generation"]
            if dry_run:
                meta["resourceVersion"] = old_meta["resourceVersion"]
                return new
            meta["resourceVersion"] = self._bump()
            self._objs[(rt.key, old_meta.get("namespace", ""), name)] = new
            self._emit(rt, "MODIFIED", old, new)
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                self._remove(rt, new)
            return copy.deepcopy(new)

    # ---- delete ------------------------------------------------------------------------------

    def delete(self, rt: ResourceType, ns: str | None, name: str, options: JSON | None = None, *,
               dry_run: bool = False) -> JSON:
        """Delete like the apiserver: preconditions, finalizers, cascading (synchronously)."""
        options = options or {}
        with self.lock:
            obj = self.must_get(rt, ns, name)
            check_preconditions(rt, obj, options.get("preconditions"))
            result = copy.deepcopy(obj)
            meta = result["metadata"]
            if meta.get("finalizers"):
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = rfc3339()
                    meta["deletionGracePeriodSeconds"] = 0
                    if not dry_run:
                        old, meta["resourceVersion"] = obj, self._bump()
                        self._objs[(rt.key, meta.get("namespace", ""), name)] = result
                        self._emit(rt, "MODIFIED", old, result)
                return copy.deepcopy(result)
            if rt is PODS:
                grace = options.get("gracePeriodSeconds")
                if grace is None:
                    grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
                meta["deletionGracePeriodSeconds"] = int(grace)
                meta["deletionTimestamp"] = rfc3339(
                    dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(grace)))
            if dry_run:
                return result
            policy = options.get("propagationPolicy")
            if policy is None and options.get("orphanDependents") is not None:
                policy = "Orphan" if options["orphanDependents"] else "Background"
            if policy is None:  # batch/v1 Jobs still default to orphaning their pods
                policy = "Orphan" if rt.plural == "jobs" else "Background"
            self._remove(rt, obj)
            self._cascade(obj["metadata"]["uid"], policy)
            return result

    def _remove(self, rt: ResourceType, obj: JSON) -> None:
        meta = obj["metadata"]
        self._objs.pop((rt.key, meta.get("namespace", ""), meta["name"]), None)
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = self._bump()
        self._emit(rt, "DELETED", obj, gone)

    def _cascade(self, owner_uid: str, policy: str) -> None:
        for (key, ns, name), dep in list(self._objs.items()):
            refs = dep["metadata"].get("ownerReferences") or []
            if not any(r.get("uid") == owner_uid for r in refs):
                continue
            dep_rt = resolve(key)
            if policy == "Orphan":
                body = copy.deepcopy(dep)
                kept = [r for r in refs if r.get("uid") != owner_uid]
                body["metadata"]["ownerReferences"] = kept or None
                if not kept:
                    del body["metadata"]["ownerReferences"]
                self.update(dep_rt, ns, name, body, check_rv=False, mode="all")
            elif (key, ns, name) in self._objs:
                self.delete(dep_rt, ns, name, {"propagationPolicy": policy})

    # ---- eviction ----------------------------------------------------------------------------

    def evict(self, ns: str, name: str, delete_options: JSON | None, *, dry_run: bool) -> None:
        with self.lock:
            pod = self.must_get(PODS, ns, name)
            check_preconditions(PODS, pod, (delete_options or {}).get("preconditions"))
            phase = (pod.get("status") or {}).get("phase")
            ignore_pdb = phase in ("Succeeded", "Failed", "Pending") or \
                pod["metadata"].get("deletionTimestamp")
            labels = pod["metadata"].get("labels") or {}
            pdbs = [] if ignore_pdb else [
                p for p in self.objects(PDBS, ns)
                if match_label_selector_object((p.get("spec") or {}).get("selector"), labels)]
            if len(pdbs) > 1:
                raise ApiError(500, "InternalError", "This pod has more than one "
                               "PodDisruptionBudget, which the eviction subresource does not "
                               "support.")
            if pdbs:
                pdb = pdbs[0]
                st = pdb.get("status") or {}
                if st.get("disruptionsAllowed", 0) <= 0:
                    raise ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate "
                                   "the pod's disruption budget.", {"causes": [{
                                       "reason": "DisruptionBudget",
                                       "message": f"The disruption budget "
                                       f"{pdb['metadata']['name']} needs "
                                       f"{st.get('desiredHealthy', 0)} healthy pods and has "
                                       f"{st.get('currentHealthy', 0)} currently"}]})
                if not dry_run:
                    body = copy.deepcopy(pdb)
                    body["status"]["disruptionsAllowed"] = st["disruptionsAllowed"] - 1
                    body["status"].setdefault("disruptedPods", {})[name] = rfc3339()
                    self.update(PDBS, ns, pdb["metadata"]["name"], body, mode="status")
            self.delete(PODS, ns, name, delete_options, dry_run=dry_run)

    # ---- test-side helpers -------------------------------------------------------------------

    def add(self, obj: JSON, *, replace: bool = False) -> JSON:
        rt = resource_for(obj.get("apiVersion", ""), obj.get("kind", ""))
        meta = obj.get("metadata") or {}
        ns = (meta.get("namespace") or "default") if rt.namespaced else ""
        with self.lock:
            if replace and self.get(rt, ns, meta.get("name", "")) is not None:
                return self.update(rt, ns, meta["name"], obj, check_rv=False, mode="all")
            try:
                return self.create(rt, ns, obj, from_api=False)
            except ApiError as err:
                raise ValueError(err.message) from None

    def mutate(self, rt: ResourceType, ns: str | None, name: str,
               fn: Callable[[JSON], JSON | None]) -> JSON:
        with self.lock:
            obj = copy.deepcopy(self.must_get(rt, ns, name))
            out = fn(obj)
            return self.update(rt, ns, name, obj if out is None else out, check_rv=False,
                               mode="all")


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.key} "{name}": the '
                    "object has been modified; please apply your changes to the latest version "
                    "and try again", rt.details(name))


def check_preconditions(rt: ResourceType, obj: JSON, pre: JSON | None) -> None:
    if not pre:
        return
    meta, name = obj["metadata"], obj["metadata"]["name"]
    if pre.get("uid") and pre["uid"] != meta.get("uid"):
        raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: {pre['uid']},"
                       f" UID in object meta: {meta.get('uid')}", rt.details(name))
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
        raise ApiError(409, "Conflict", "Precondition failed: ResourceVersion in precondition: "
                       f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                       f"{meta.get('resourceVersion')}", rt.details(name))


def _spec_changed(old: JSON, new: JSON) -> bool:
    strip = ("metadata", "status")
    return {k: v for k, v in old.items() if k not in strip} != \
        {k: v for k, v in new.items() if k not in strip}
