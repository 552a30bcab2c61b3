"""The facts runbook predicates are written against, computed from one enriched alert.

The vocabulary is docs/runbook-format.md's. A fact that cannot be computed is absent from the
dict, never guessed: an absent fact makes every predicate over it false (except `missing`), so a
context read without a cluster, or a pod that is already gone, licenses no action.

Which object each prefix describes:
- `pod.`: the alerted pod (the target when it is a Pod, else the alert's `pod` label).
- `container.`: the alert's `container` label when the pod has it, else the pod's worst container.
- `owner.` / `workload.`: the pod's top controller (the last of `context.owners`), or the target
  itself when the alert is about a workload.
- `node.`: the alerted node, else the node the alerted pod runs on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TypeVar

from orchestrator.context import (
    ClusterContext,
    Condition,
    ContainerInfo,
    HPAInfo,
    JobInfo,
    NodeInfo,
    ObjectRef,
    PodInfo,
    PVCInfo,
    WorkloadInfo,
)
from orchestrator.events import Alert

Fact = bool | int | float | str
Facts = dict[str, Fact]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
_GITOPS_MARKERS = ("argocd.argoproj.io/", "fluxcd.io/", "toolkit.fluxcd.io/")
_GITOPS_NAMES = ("argocd", "argo-cd", "argo", "flux", "fluxcd")
_STATE_RANK = {"waiting": 3, "terminated": 2, "unknown": 1, "running": 0}


def same_object(a: ObjectRef | None, b: ObjectRef | None) -> bool:
    """Kind, namespace and name equal (uids are compared only when both sides carry one)."""
    if a is None or b is None:
        return False
    if (a.kind, a.namespace or None, a.name) != (b.kind, b.namespace or None, b.name):
        return False
    return not (a.uid and b.uid and a.uid != b.uid)


def alerted_pod(alert: Alert, ctx: ClusterContext) -> PodInfo | None:
    """The pod the alert is about, when the router found it."""
    if ctx.target is not None and ctx.target.kind == "Pod":
        return next((p for p in ctx.pods if same_object(p.ref, ctx.target)), None)
    name = alert.labels.get("pod")
    if not name:
        return None
    return next((p for p in ctx.pods if p.ref.name == name
                 and (alert.namespace is None or p.ref.namespace == alert.namespace)), None)


def top_owner(ctx: ClusterContext) -> ObjectRef | None:
    """The top of the owner chain (owners are ordered nearest first), or a workload target."""
    if ctx.owners:
        return ctx.owners[-1]
    if ctx.target is not None and ctx.target.kind in WORKLOAD_KINDS:
        return ctx.target
    return None


def alert_container(alert: Alert, pod: PodInfo) -> ContainerInfo | None:
    """The alert's `container` label when the pod has it, else the worst container."""
    everything = [*pod.containers, *pod.init_containers]
    wanted = alert.labels.get("container")
    if wanted:
        named = next((c for c in everything if c.name == wanted), None)
        if named is not None:
            return named
    if not pod.containers:
        return None
    return max(pod.containers, key=lambda c: (not c.ready, _STATE_RANK[c.state], c.restart_count))


def compute(alert: Alert, ctx: ClusterContext, *, now: datetime) -> Facts:
    """Every computable fact of the vocabulary; unknown ones are left out."""
    facts: Facts = {"cluster.available": ctx.available, "alert.name": alert.name}
    if severity := alert.labels.get("severity"):
        facts["alert.severity"] = severity
    for name, value in alert.labels.items():
        facts[f"alert.label.{name}"] = value
    if ctx.target is not None:
        facts["target.kind"] = ctx.target.kind
    pod = alerted_pod(alert, ctx)
    if pod is not None:
        _pod_facts(facts, alert, pod, ctx, now)
    owner = top_owner(ctx)
    if owner is not None:
        facts["owner.kind"] = owner.kind
    workload = _find(ctx.workloads, owner) or _find(ctx.workloads, ctx.target)
    if workload is not None:
        _workload_facts(facts, workload, ctx, now)
    hpa = _hpa_for(ctx, workload)
    if hpa is not None:
        _hpa_facts(facts, hpa)
    node = _node_for(ctx, pod)
    if node is not None:
        _node_facts(facts, node)
    job = _job_for(ctx)
    if job is not None:
        _job_facts(facts, job)
    pvc = _find(ctx.pvcs, ctx.target)
    if pvc is not None:
        _pvc_facts(facts, pvc)
    return facts


def _pod_facts(facts: Facts, alert: Alert, pod: PodInfo, ctx: ClusterContext,
               now: datetime) -> None:
    if pod.phase:
        facts["pod.phase"] = pod.phase
    facts["pod.ready"] = pod.ready
    facts["pod.owned_by_controller"] = pod.owner is not None
    scheduled = _condition(pod.conditions, "PodScheduled")
    if scheduled is not None:
        facts["pod.unschedulable"] = (scheduled.status == "False"
                                      and scheduled.reason == "Unschedulable")
    if pod.phase == "Pending" and not pod.node and _failed_scheduling(ctx, pod):
        # The scheduler's own event says so even when the condition was not read.
        facts["pod.unschedulable"] = True
    if pod.created_at is not None:
        facts["pod.age_minutes"] = _minutes(now, pod.created_at)
    c = alert_container(alert, pod)
    if c is None:
        return
    facts["container.state"] = c.state
    facts["container.restart_count"] = c.restart_count
    facts["container.has_memory_limit"] = "memory" in c.limits
    if c.state == "waiting" and c.reason:
        facts["container.waiting_reason"] = c.reason
    # The newest termination: the current state when terminated, else the last state.
    if c.state == "terminated":
        reason, code = c.reason, c.exit_code
    else:
        reason, code = c.last_reason, c.last_exit_code
    if reason:
        facts["container.last_termination_reason"] = reason
    if code is not None:
        facts["container.last_exit_code"] = code


def _failed_scheduling(ctx: ClusterContext, pod: PodInfo) -> bool:
    return any(e.reason == "FailedScheduling" and e.type == "Warning"
               and e.object == f"Pod/{pod.ref.name}" for e in ctx.events)


def _workload_facts(facts: Facts, w: WorkloadInfo, ctx: ClusterContext, now: datetime) -> None:
    facts["workload.kind"] = w.ref.kind
    if w.desired_replicas is not None:
        facts["workload.desired_replicas"] = w.desired_replicas
    facts["workload.available_replicas"] = w.available_replicas
    facts["workload.updated_replicas"] = w.updated_replicas
    facts["workload.paused"] = w.paused
    if w.revisions:
        facts["workload.revision_count"] = len(w.revisions)
        stamps = [r.created_at for r in w.revisions if r.created_at is not None]
        newest = max(w.revisions, key=lambda r: r.revision)
        if newest.created_at is not None:
            facts["workload.newest_revision_age_minutes"] = _minutes(now, newest.created_at)
        elif stamps:
            facts["workload.newest_revision_age_minutes"] = _minutes(now, max(stamps))
    progressing = _condition(w.conditions, "Progressing")
    if progressing is not None:
        facts["workload.progress_deadline_exceeded"] = (
            progressing.reason == "ProgressDeadlineExceeded")
    # Ownership facts are only known when the workload was read from a live cluster.
    if ctx.available:
        facts["workload.managed_by_hpa"] = (
            any(same_object(h.scale_target, w.ref) for h in ctx.hpas)
            or any("hpa" in m.lower() or "horizontalpodautoscaler" in m.lower()
                   for m in w.managed_by))
        facts["workload.managed_by_gitops"] = _gitops(w)


def _gitops(w: WorkloadInfo) -> bool:
    if any(m.lower().split("/")[0] in _GITOPS_NAMES or any(k in m for k in _GITOPS_MARKERS)
           for m in w.managed_by):
        return True
    keys = [*w.labels, *w.annotations]
    if any(marker in k for k in keys for marker in _GITOPS_MARKERS):
        return True
    manager = w.labels.get("app.kubernetes.io/managed-by", "").lower()
    return manager in _GITOPS_NAMES


def _hpa_for(ctx: ClusterContext, workload: WorkloadInfo | None) -> HPAInfo | None:
    target = _find(ctx.hpas, ctx.target)
    if target is not None:
        return target
    if workload is not None:
        scaling = next((h for h in ctx.hpas if same_object(h.scale_target, workload.ref)), None)
        if scaling is not None:
            return scaling
    return ctx.hpas[0] if len(ctx.hpas) == 1 else None


def _hpa_facts(facts: Facts, h: HPAInfo) -> None:
    facts["hpa.max_replicas"] = h.max_replicas
    if h.current_replicas is not None:
        facts["hpa.current_replicas"] = h.current_replicas
        facts["hpa.at_max"] = h.current_replicas >= h.max_replicas


def _node_for(ctx: ClusterContext, pod: PodInfo | None) -> NodeInfo | None:
    if ctx.target is not None and ctx.target.kind == "Node":
        return next((n for n in ctx.nodes if n.ref.name == ctx.target.name), None)
    if pod is not None and pod.node:
        return next((n for n in ctx.nodes if n.ref.name == pod.node), None)
    return None


def _node_facts(facts: Facts, n: NodeInfo) -> None:
    ready = n.ready
    if ready is None and (cond := _condition(n.conditions, "Ready")) is not None:
        ready = cond.status
    if ready is not None:
        facts["node.ready"] = ready == "True"
    facts["node.unschedulable"] = n.unschedulable
    for c in n.conditions:
        facts[f"node.condition.{c.type}"] = c.status
    if n.pods:
        # The router lists a node's pods only when the node is the alerted object; an empty
        # list means "not read", never "no pods".
        facts["node.pod_count"] = len(n.pods)


def _job_for(ctx: ClusterContext) -> JobInfo | None:
    found = _find(ctx.jobs, ctx.target)
    if found is None:
        job_ref = next((o for o in ctx.owners if o.kind == "Job"), None)
        found = _find(ctx.jobs, job_ref)
    return found


def _job_facts(facts: Facts, j: JobInfo) -> None:
    facts["job.failed"] = j.failed
    facts["job.succeeded"] = j.succeeded
    facts["job.active"] = j.active
    complete = _condition(j.conditions, "Complete")
    facts["job.complete"] = complete is not None and complete.status == "True"
    facts["job.owned_by_cronjob"] = j.owner is not None and j.owner.kind == "CronJob"


def _pvc_facts(facts: Facts, p: PVCInfo) -> None:
    if p.phase:
        facts["pvc.phase"] = p.phase
    if p.capacity and (size := quantity_bytes(p.capacity)) is not None:
        facts["pvc.capacity_bytes"] = size


_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]i?|k|m)?\s*$")
_FACTOR = {None: 1, "m": 0.001, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
           "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
           "Pi": 2**50, "Ei": 2**60}


def quantity_bytes(text: str) -> int | None:
    """A Kubernetes quantity (`10Gi`, `500M`, `1.5Ti`) in bytes; None when it is not one."""
    m = _QUANTITY.match(text)
    if not m:
        return None
    return int(float(m.group(1)) * _FACTOR[m.group(2)])


_T = TypeVar("_T", WorkloadInfo, PVCInfo, HPAInfo, JobInfo)


def _find(items: list[_T], ref: ObjectRef | None) -> _T | None:
    return next((i for i in items if same_object(i.ref, ref)), None) if ref else None


def _condition(conditions: list[Condition], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


def _minutes(now: datetime, then: datetime) -> float:
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return round((now - then).total_seconds() / 60.0, 1)
