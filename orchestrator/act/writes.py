"""The writes behind each action, the way kubectl makes them, with preconditions and a dry run.

Every write carries the uid and resourceVersion the checks just read, so a target that changed
in between is a 409, never a blind overwrite; patches also record the plan id in an annotation
in the same write, so a redelivered plan finds its own mark and is reported as already applied.
The same function serves the server-side dry run (`dryRun=All`) and the real write.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.act.actions import APPLIED_AT_ANNOTATION, PLAN_ANNOTATION, RESTARTED_AT
from orchestrator.act.targets import Json, Resolved, annotations_of, controller_of
from orchestrator.adapters.kube_errors import Rejected
from orchestrator.adapters.kube_writes import KubeWrites
from orchestrator.plan import Action

REVISION = "deployment.kubernetes.io/revision"
# What `kubectl rollout undo` keeps from the Deployment instead of copying from the ReplicaSet.
ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION,
    "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to",
})


@dataclass(frozen=True)
class Outcome:
    """What one write (or dry run) did: a line for humans, and whether the target was gone."""

    summary: str
    gone: bool = False
    resource_version: str | None = None


def applied_by(target: Resolved) -> str | None:
    """The plan id our last patch recorded on this object, if any."""
    return annotations_of(target.obj).get(PLAN_ANNOTATION)


def execute(kube: KubeWrites, action: Action, target: Resolved, *, plan_id: str,
            now: datetime, dry_run: bool) -> Outcome:
    """Dry-run or perform `action` on `target` as read; raises the adapter's KubeErrors."""
    obj, ref = target.obj, target.ref
    meta = obj.get("metadata") or {}
    uid, rv = str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")
    stamp = now.isoformat().replace("+00:00", "Z")
    mark = {"uid": uid, "resourceVersion": rv,
            "annotations": {PLAN_ANNOTATION: plan_id, APPLIED_AT_ANNOTATION: stamp}}
    verb = "would" if dry_run else "did"
    if action.type == "delete_pod":
        if not kube.evict(str(ref.namespace), ref.name, uid=uid, resource_version=rv,
                          dry_run=dry_run):
            return Outcome(f"pod {ref.key} is already gone", gone=True)
        return Outcome(f"eviction of pod {ref.key} {'allowed' if dry_run else 'accepted'} "
                       "(PodDisruptionBudgets respected)")
    if action.type == "delete_failed_job":
        if not kube.delete("Job", ref.namespace, ref.name, uid=uid, resource_version=rv,
                           propagation="Background", dry_run=dry_run):
            return Outcome(f"job {ref.key} is already gone", gone=True)
        return Outcome(f"deletion of job {ref.key} and its pods {'allowed' if dry_run else 'done'}"
                       " (propagation Background)")
    if action.type == "rollout_restart":
        body: Any = {"metadata": mark, "spec": {"template": {"metadata": {
            "annotations": {RESTARTED_AT: stamp}}}}}
        out = kube.patch(ref.kind, ref.namespace, ref.name, body, patch_type="strategic",
                         dry_run=dry_run)
        return Outcome(f"{verb} restart {ref.key} ({RESTARTED_AT}={stamp})",
                       resource_version=_rv(out))
    if action.type == "scale":
        replicas = int(action.parameters["replicas"])
        current = (obj.get("spec") or {}).get("replicas", 1)
        out = kube.patch(ref.kind, ref.namespace, ref.name,
                         {"metadata": mark, "spec": {"replicas": replicas}},
                         patch_type="strategic", dry_run=dry_run)
        return Outcome(f"{verb} scale {ref.key} from {current} to {replicas} replicas",
                       resource_version=_rv(out))
    if action.type == "cordon_node":
        out = kube.patch("Node", None, ref.name,
                         {"metadata": mark, "spec": {"unschedulable": True}},
                         patch_type="strategic", dry_run=dry_run)
        return Outcome(f"{verb} cordon node {ref.name}", resource_version=_rv(out))
    if action.type == "rollback":
        return _rollback(kube, target, mark, dry_run=dry_run)
    raise Rejected(400, "Unsupported", f"no write for action type {action.type}")


def _rollback(kube: KubeWrites, target: Resolved, mark: Json, *, dry_run: bool) -> Outcome:
    """`kubectl rollout undo`: the previous ReplicaSet's template and annotations, one JSON
    patch, with the uid and resourceVersion read as its preconditions."""
    deploy, ref = target.obj, target.ref
    previous = previous_replicaset(kube, deploy)
    if previous is None:
        raise Rejected(409, "NoHistory", f"{ref.key} has no previous revision to roll back to")
    template = rollback_template(previous)
    kept = {k: v for k, v in annotations_of(deploy).items() if k in ANNOTATIONS_TO_SKIP}
    restored = {k: v for k, v in annotations_of(previous).items() if k not in ANNOTATIONS_TO_SKIP}
    new_annotations = {**kept, **restored, **mark["annotations"]}
    ops = [
        {"op": "test", "path": "/metadata/uid", "value": mark["uid"]},
        {"op": "replace", "path": "/metadata/resourceVersion", "value": mark["resourceVersion"]},
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "add", "path": "/metadata/annotations", "value": new_annotations},
    ]
    out = kube.patch("Deployment", ref.namespace, ref.name, ops, patch_type="json",
                     dry_run=dry_run)
    name = (previous.get("metadata") or {}).get("name")
    revision = annotations_of(previous).get(REVISION, "?")
    return Outcome(f"{'would roll' if dry_run else 'rolled'} {ref.key} back to ReplicaSet {name} "
                   f"(revision {revision})", resource_version=_rv(out))


def previous_replicaset(kube: KubeWrites, deploy: Json) -> Json | None:
    """The second-newest revision among the Deployment's ReplicaSets (kubectl's default)."""
    meta = deploy.get("metadata") or {}
    match = ((deploy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(match.items())) or None
    owned = []
    for rs in kube.list("ReplicaSet", meta.get("namespace"), label_selector=selector):
        owner = controller_of(rs)
        if owner is None or owner.get("uid") != meta.get("uid"):
            continue
        try:
            owned.append((int(annotations_of(rs).get(REVISION, "")), rs))
        except ValueError:
            continue
    owned.sort(key=lambda pair: pair[0])
    return owned[-2][1] if len(owned) >= 2 else None


def rollback_template(rs: Json) -> Json:
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop("pod-template-hash", None)
    return template


def template_matches(deploy: Json, rs: Json) -> bool:
    """The Deployment already runs this ReplicaSet's template (hash label aside)."""
    return rollback_template(rs) == ((deploy.get("spec") or {}).get("template") or {})


def _rv(obj: Json) -> str | None:
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return str(rv) if rv else None
