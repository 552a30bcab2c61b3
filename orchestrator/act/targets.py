"""What an alert is about, and a target's owner chain, read from the cluster, not the event.

The router puts a target and owners on the events it sends, and the agent passes them on; the
executor does not trust them. It derives the alerted objects from the alert's own labels (the
kube-state-metrics conventions), and follows `ownerReferences` (controller only) on the live
objects to find each target's owners and its top owner (the workload a budget is counted on).

An owner reference is matched by API group, kind and uid: a `StatefulSet` of
`apps.kruise.io` is not the core one of the same name, and a controller the executor cannot
read (another group, a kind it does not know, an owner gone or recreated) leaves the chain
unknown, which refuses every write below it rather than treating the object as an orphan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.adapters.kube_kinds import OBJECT_LABELS, namespaced, prefixes
from orchestrator.adapters.kube_writes import RESOURCES, KubeWrites
from orchestrator.context import ObjectRef
from orchestrator.events import Alert
from orchestrator.owners import describe, is_known, same_uid

Json = dict[str, Any]
MAX_OWNER_DEPTH = 5

def alerted_refs(alert: Alert) -> list[ObjectRef]:
    """Every object the alert's labels name that the executor reads (namespaced ones need a
    `namespace` label)."""
    namespace = alert.labels.get("namespace") or None
    refs = []
    for label, kind in OBJECT_LABELS:
        name = alert.labels.get(label)
        if not name or kind not in RESOURCES:
            continue
        if namespaced(kind):
            if namespace:
                refs.append(ObjectRef(kind=kind, name=name, namespace=namespace))
        else:
            refs.append(ObjectRef(kind=kind, name=name))
    return refs


def ref_of(obj: Json) -> ObjectRef:
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind") or "")
    return ObjectRef(kind=kind, name=str(meta.get("name") or ""),
                     namespace=(meta.get("namespace") or None) if namespaced(kind) else None,
                     uid=meta.get("uid"))


def same_object(a: ObjectRef, b: ObjectRef) -> bool:
    return (a.kind, a.namespace or None, a.name) == (b.kind, b.namespace or None, b.name)


@dataclass(frozen=True)
class Resolved:
    """A live object and its controllers, nearest first, as the cluster says now."""

    obj: Json
    owners: tuple[Json, ...] = ()
    unreadable_owner: str | None = None
    """A controller the executor cannot match (a CRD such as an Argo Rollout or a Kruise
    StatefulSet, or an owner gone or recreated): its opt-out and budget cannot be checked, so
    writes below it are refused."""

    @property
    def ref(self) -> ObjectRef:
        return ref_of(self.obj)

    @property
    def top(self) -> ObjectRef:
        return ref_of(self.owners[-1]) if self.owners else self.ref

    @property
    def chain(self) -> list[ObjectRef]:
        """The object itself, then its owners."""
        return [self.ref, *(ref_of(o) for o in self.owners)]

    @property
    def resource_version(self) -> str:
        return str((self.obj.get("metadata") or {}).get("resourceVersion") or "")


def controller_of(obj: Json) -> Json | None:
    """The ownerReference with `controller: true`, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


_PREFIXES = prefixes(RESOURCES)


def resolve(kube: KubeWrites, ref: ObjectRef) -> Resolved | None:
    """Read `ref` and walk its controllers up; None when the object does not exist."""
    namespace = ref.namespace if namespaced(ref.kind) else None
    obj = kube.get(ref.kind, namespace, ref.name)
    if obj is None:
        return None
    obj.setdefault("kind", ref.kind)
    owners: list[Json] = []
    current = obj
    for _ in range(MAX_OWNER_DEPTH):
        owner = controller_of(current)
        if owner is None:
            break
        kind, name = str(owner.get("kind") or ""), str(owner.get("name") or "")
        version, uid = str(owner.get("apiVersion") or ""), str(owner.get("uid") or "")
        label = describe(owner)
        if not is_known(kind, version, _PREFIXES):
            return Resolved(obj, tuple(owners), unreadable_owner=label)
        parent = kube.get(kind, namespace if namespaced(kind) else None, name)
        if parent is None:
            return Resolved(obj, tuple(owners), unreadable_owner=f"{label}, which is gone")
        if not uid or not same_uid(uid, parent):
            return Resolved(obj, tuple(owners),
                            unreadable_owner=f"{label} (uid {uid or 'missing'}), not the "
                                             "object of that name now (recreated)")
        parent.setdefault("kind", kind)
        owners.append(parent)
        current = parent
    return Resolved(obj, tuple(owners))


def annotations_of(obj: Json) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})
