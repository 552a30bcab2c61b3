"""What to read for each kind of alerted object (pods and owner chains live in `gather.py`).

- a workload: its status and conditions, revision history, its pods worst first (the worst one
  in full: Events, logs, node);
- a Job: its counts against the backoff limit, its failed pods, the newest one's logs; a
  CronJob: its schedule and runs, then its newest Job as above;
- a node: conditions, taints, allocatable, the pods on it (the unhealthy ones described);
- a PVC: phase and capacity, and the pod using it; an HPA: current against max replicas, and
  what it scales; a Service: its selector and the pods behind it.
"""

from __future__ import annotations

import logging

from orchestrator.context import ObjectRef
from orchestrator.orient.fields import (
    Json,
    controller_of,
    created,
    label_selector,
    meta,
    ref_of,
    spec,
    status,
)
from orchestrator.orient.gather import Reading
from orchestrator.orient.nodes import mounts_claim, node_addresses
from orchestrator.orient.targets import Target, is_ip
from orchestrator.orient.workloads import owned_jobs

log = logging.getLogger(__name__)

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


def gather(r: Reading, target: Target) -> None:
    """Read what matters for the alert's object into `r.found`."""
    ref = target.ref
    if ref is None:
        if target.instance_host:
            instance(r, target.instance_host)
        return
    if ref.kind == "Pod":
        r.pod(ref, target.container)
    elif ref.kind in WORKLOADS:
        workload(r, ref, target.container)
    elif ref.kind == "Job":
        job(r, ref, target.container, weak=target.weak)
    elif ref.kind == "CronJob":
        cronjob(r, ref, target.container)
    elif ref.kind == "Node":
        node(r, ref.name)
    elif ref.kind == "PersistentVolumeClaim":
        pvc(r, ref)
    elif ref.kind == "HorizontalPodAutoscaler":
        hpa(r, ref)
    elif ref.kind == "Service":
        service(r, ref, target.container, weak=target.weak)


def workload(r: Reading, ref: ObjectRef, container: str | None) -> None:
    ns = ref.namespace
    obj, hpas_f = r.target_beside(ref, "HorizontalPodAutoscaler", limit=100)
    if obj is not None:
        selector = label_selector(spec(obj).get("selector"))
        pods_f = r.listing("Pod", ns, label_selector=selector, limit=200) if selector else None
        if ref.kind == "ReplicaSet":
            r.found.workloads.append((obj, []))
            r.chain(controller_of(obj))
        else:
            r.owner_detail(obj)
        if pods_f is not None:
            r.pods(r.items(pods_f, f"pods of {ref.key}"), what=f"pods of {ref.key}",
                   container=container)
    r.found.hpas += r.items(hpas_f, f"HPAs in {ns}")


def job(r: Reading, ref: ObjectRef, container: str | None, *, weak: bool = False,
        as_target: bool = True) -> None:
    ns, name = ref.namespace, ref.name
    job_f = r.read(ref)
    pods_f = r.listing("Pod", ns, label_selector=f"job-name={name}", limit=100)
    obj = r.target(ref, job_f, weak=weak) if as_target else r.value(job_f)
    if obj is None:
        if weak:
            log.info("label job=%s names no Job in %s: not an object", name, ns)
        return
    pods = r.items(pods_f, f"pods of Job {name}")
    r.found.jobs.append((obj, pods))
    # The newest failed pod tells why the Job failed; without one, the newest pod.
    newest = sorted(pods, key=lambda p: (status(p).get("phase") == "Failed", created(p)),
                    reverse=True)
    for n, pod in enumerate(newest[: r.limits.max_pods]):
        r.describe(pod, focus=n == 0, container=container)
    if len(newest) > r.limits.max_pods:
        r.found.cut.append(f"pods of Job {name}: {len(newest) - r.limits.max_pods} more "
                           "not described")
    if as_target:
        r.chain(controller_of(obj))


def cronjob(r: Reading, ref: ObjectRef, container: str | None) -> None:
    obj, jobs_f = r.target_beside(ref, "Job", limit=200)
    if obj is None:
        return
    jobs = owned_jobs(r.items(jobs_f, f"Jobs in {ref.namespace}"), meta(obj).get("uid"))
    r.found.cronjobs.append((obj, jobs))
    if jobs:
        job(r, ref_of(jobs[0], "Job"), container, as_target=False)


def node(r: Reading, name: str, read: Json | None = None) -> None:
    node_f = r.get("Node", None, name) if read is None else None
    r.events_of("Node", None, name)
    pods_f = r.listing("Pod", None, field_selector=f"spec.nodeName={name}", limit=500)
    obj = read if node_f is None else r.value(node_f)
    if obj is None:
        r.found.target = ObjectRef(kind="Node", name=name)
        return
    r.found.target = ref_of(obj, "Node")
    pods = r.items(pods_f, f"pods on node {name}")
    r.found.nodes[name] = (obj, [f"{meta(p).get('namespace')}/{meta(p).get('name')}"
                                 for p in pods])
    # A NotReady node's kubelet cannot serve logs: describe its troubled pods, read no logs.
    r.pods(pods, what=f"pods on node {name}", unhealthy_only=True, focus=False)


def instance(r: Reading, host: str) -> None:
    """An `instance` label is a node only if the cluster has a node by that name or address."""
    if not is_ip(host):
        found = r.value(r.get("Node", None, host), missing_ok=True)
        if found is not None:
            node(r, host, found)
            return
    for obj in r.items(r.listing("Node", None, limit=500), "nodes"):
        if host in node_addresses(obj):
            node(r, str(meta(obj).get("name")), obj)
            return
    log.info("instance %s is not a node of this cluster", host)


def pvc(r: Reading, ref: ObjectRef) -> None:
    obj, pods_f = r.target_beside(ref, "Pod", limit=500)
    if obj is None:
        return
    r.found.pvcs.append(obj)
    users = [p for p in r.items(pods_f, f"pods in {ref.namespace}")
             if mounts_claim(p, ref.name)]
    focus = r.pods(users, what=f"pods using {ref.key}")
    if focus is not None:
        # The workload behind the pod, as context: it is not the PVC's owner.
        r.chain(focus.owner, as_owners=False)


def hpa(r: Reading, ref: ObjectRef) -> None:
    obj = r.target(ref, r.read(ref))
    if obj is None:
        return
    r.found.hpas.append(obj)
    scale = spec(obj).get("scaleTargetRef") or {}
    if scale.get("kind") in WORKLOADS and scale.get("name"):
        owner = ObjectRef(kind=str(scale["kind"]), name=str(scale["name"]),
                          namespace=ref.namespace)
        r.chain(owner, as_owners=False)


def service(r: Reading, ref: ObjectRef, container: str | None, *, weak: bool) -> None:
    ns = ref.namespace
    obj = r.target(ref, r.read(ref), weak=weak)
    if obj is None:
        return
    selector = spec(obj).get("selector") or {}
    pods: list[Json] = []
    if selector:
        query = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods = r.items(r.listing("Pod", ns, label_selector=query, limit=200),
                       f"pods of {ref.key}")
    r.found.services.append((obj, pods))
    focus = r.pods(pods, what=f"pods of {ref.key}", container=container)
    if focus is not None:
        r.chain(focus.owner, as_owners=False)
