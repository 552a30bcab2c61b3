"""The scheduler and kubelet of the simulated cluster, folded into one step: a pod a controller
creates is placed on a schedulable, ready node (or stays Pending with a FailedScheduling event),
and started with the status the scenario's fault gives it, the Events kubelet would record and
the log lines a responder would read."""

from __future__ import annotations

import copy
from typing import Any

from .cluster_objects import event
from .faults import Fault, first_container, suffers
from .pods import JSON, Age, container_status, name_suffix, pod
from .resources import resolve
from .store import Store

PODS, NODES, EVENTS = resolve("Pod"), resolve("Node"), resolve("Event")
HEALTHY_LOG = "listening on :8080\nready\n"


def _ready(node: JSON) -> bool:
    conds = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def pick_node(store: Store, fault: Fault) -> str | None:
    """The first ready, schedulable node; `node-1` in a cluster that declares no nodes."""
    nodes = store.objects(NODES)
    if not nodes:
        return "node-1"
    for n in nodes:
        name = n["metadata"]["name"]
        if not (n.get("spec") or {}).get("unschedulable") and _ready(n) and name != fault.node:
            return str(name)
    return None


def start_pod(store: Store, owner: JSON, fault: Fault, *, starting: bool, index: int,
              age: Age = 0, seed: object = 0) -> JSON:
    """Create one pod of ``owner`` (a ReplicaSet or Job) as kubelet would run it."""
    tpl = owner["spec"]["template"]
    meta = owner["metadata"]
    name = f"{meta['name']}-{name_suffix(meta['uid'], index, seed)}"
    spec_only: JSON = {"spec": copy.deepcopy(tpl["spec"])}
    sick = suffers(fault, spec_only, starting=starting, index=index)
    node = None if sick and fault.kind == "unschedulable" else pick_node(store, fault)
    c = first_container(tpl)
    cname, image = str(c.get("name", "app")), str(c.get("image", ""))
    phase: str = "Running"
    statuses: list[JSON] | None = None
    kw: dict[str, Any] = {}
    if node is None:
        phase, statuses = "Pending", []
        kw["unschedulable_message"] = fault.message or \
            "0/3 nodes are available: 3 Insufficient cpu."
    elif sick:
        phase, statuses = _sick_status(fault, cname, image, owner["kind"])
    elif owner["kind"] == "Job":
        phase = "Succeeded"
        statuses = [container_status(cname, image, state="terminated", exit_code=0, age=age)]
    obj = pod(name, meta["namespace"], labels=tpl["metadata"].get("labels"), owner=owner,
              node_name=node, phase=phase, containers=tpl["spec"]["containers"],
              statuses=statuses, age=age,
              restart_policy=tpl["spec"].get("restartPolicy", "Always"), **kw)
    created = store.create(PODS, meta["namespace"], obj, from_api=False)
    _record(store, created, fault, sick or node is None, cname, node)
    return created


def _sick_status(fault: Fault, cname: str, image: str, owner_kind: str) -> tuple[str, list[JSON]]:
    if owner_kind == "Job":
        return "Failed", [container_status(cname, image, state="terminated",
                                           exit_code=fault.exit_code, message=fault.message)]
    if fault.kind in ("crash", "job_fails"):
        return "Running", [container_status(
            cname, image, state="waiting", reason="CrashLoopBackOff", restart_count=6,
            message=f"back-off 5m0s restarting failed container={cname}", ready=False,
            last_reason="Error", last_exit_code=fault.exit_code)]
    if fault.kind == "oom":
        return "Running", [container_status(
            cname, image, state="waiting", reason="CrashLoopBackOff", restart_count=5,
            ready=False, last_reason="OOMKilled", last_exit_code=137)]
    if fault.kind == "image_pull":
        return "Pending", [container_status(
            cname, image, state="waiting", reason="ImagePullBackOff", image_pulled=False,
            message=f'Back-off pulling image "{image}"', ready=False)]
    # not_ready: running, never restarted, failing its readiness probe
    return "Running", [container_status(cname, image, ready=False, age=1800)]


_EVENTS = {
    "crash": ("BackOff", "Back-off restarting failed container {c} in pod {p}"),
    "oom": ("BackOff", "Back-off restarting failed container {c} in pod {p}"),
    "image_pull": ("Failed", "Failed to pull image: {m}"),
    "not_ready": ("Unhealthy", "Readiness probe failed: {m}"),
    "job_fails": ("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
}


def _record(store: Store, created: JSON, fault: Fault, sick: bool, cname: str,
            node: str | None) -> None:
    ns, name = created["metadata"]["namespace"], created["metadata"]["name"]
    if not sick:
        store.logs[(ns, name, cname, False)] = HEALTHY_LOG
        return
    if node is None:
        ev = event(created, "FailedScheduling", created["status"]["conditions"][0]["message"],
                   component="default-scheduler")
    else:
        reason, text = _EVENTS.get(fault.kind, ("Unhealthy", "{m}"))
        ev = event(created, reason, text.format(c=cname, p=name, m=fault.message or "failed"),
                   count=6, host=node)
    store.create(EVENTS, ns, ev, from_api=False)
    if fault.logs:
        store.logs[(ns, name, cname, False)] = fault.logs
        store.logs[(ns, name, cname, True)] = fault.logs
