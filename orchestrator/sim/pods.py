"""Builders of complete Kubernetes objects (plain dicts), part one: metadata, conditions,
containers and Pods, and the shared helpers the other builders use.

Every builder returns a dict shaped like what a real cluster serves, complete enough for the
real python client to deserialize with client-side validation on (required status fields,
ownerReferences with uid/controller, pod-template-hash labels...). Builders assign
``metadata.uid`` themselves so owner references are consistent before anything is stored;
:class:`FakeKubeAPI.add` keeps those uids and adds resourceVersion. Tests use them through
``tests.fakes.kube_objects``; scenarios through :mod:`orchestrator.sim.scenario`.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import uuid
from typing import Any

JSON = dict[str, Any]
Age = float | dt.timedelta  # seconds ago, or a timedelta ago
REGISTRY = "registry.example.com"
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated names


def ts(age: Age = 0) -> str:
    """RFC 3339 timestamp ``age`` ago (seconds or timedelta)."""
    delta = age if isinstance(age, dt.timedelta) else dt.timedelta(seconds=age)
    return (dt.datetime.now(dt.UTC) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def digest(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def name_suffix(*seed: object, length: int = 5) -> str:
    """Deterministic generated-name suffix (``web-7d4b9c8f6d-x2k9p``)."""
    h = int(digest(*seed), 16)
    out = []
    for _ in range(length):
        h, r = divmod(h, len(NAME_CHARS))
        out.append(NAME_CHARS[r])
    return "".join(out)


def object_meta(name: str, namespace: str | None, *, labels: dict[str, str] | None = None,
                annotations: dict[str, str] | None = None, owner: JSON | None = None,
                age: Age = 3600, uid: str | None = None, generation: int | None = None) -> JSON:
    meta: JSON = {"name": name, "uid": uid or str(uuid.uuid4()), "creationTimestamp": ts(age)}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner is not None:
        meta["ownerReferences"] = [owner_ref(owner)]
    if generation is not None:
        meta["generation"] = generation
    return meta


def owner_ref(owner: JSON, *, controller: bool = True) -> JSON:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": controller, "blockOwnerDeletion": True}


def cond(type_: str, status: str | bool, reason: str | None = None, message: str | None = None,
          age: Age = 3600, *, probe: bool = False, heartbeat: Age | None = None,
          update: Age | None = None) -> JSON:
    status = ("True" if status else "False") if isinstance(status, bool) else status
    out: JSON = {"type": type_, "status": status, "lastTransitionTime": ts(age)}
    if probe:
        out["lastProbeTime"] = None
    if heartbeat is not None:
        out["lastHeartbeatTime"] = ts(heartbeat)
    if update is not None:
        out["lastUpdateTime"] = ts(update)
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


# ---- pods ----------------------------------------------------------------------------------


def container(name: str = "app", image: str = f"{REGISTRY}/shop/app:1.0.0", *,
              requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
              ports: list[int] | None = None, env: dict[str, str] | None = None,
              command: list[str] | None = None) -> JSON:
    out: JSON = {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "resources": {k: v for k, v in (("requests", requests or {"cpu": "100m",
                                                                   "memory": "128Mi"}),
                                         ("limits", limits)) if v},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if ports:
        out["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in ports]
    if env:
        out["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if command:
        out["command"] = list(command)
    return out


def container_status(name: str = "app", image: str = f"{REGISTRY}/shop/app:1.0.0", *,
                     state: str = "running", reason: str | None = None,
                     message: str | None = None, exit_code: int | None = None,
                     restart_count: int = 0, ready: bool | None = None, age: Age = 3600,
                     last_reason: str | None = None, last_exit_code: int = 1,
                     last_finished_age: Age = 90, image_pulled: bool = True) -> JSON:
    """A containerStatuses entry. ``state``: running | waiting | terminated."""
    def cid(n: int) -> str:
        return "containerd://" + digest(name, image, n, age)

    st: JSON
    if state == "running":
        st = {"running": {"startedAt": ts(age)}}
    elif state == "waiting":
        st = {"waiting": {"reason": reason or "ContainerCreating"}}
        if message:
            st["waiting"]["message"] = message
    elif state == "terminated":
        code = 1 if exit_code is None else exit_code
        st = {"terminated": {"exitCode": code, "reason": reason or ("Completed" if code == 0
                                                                    else "Error"),
                             "startedAt": ts(age), "finishedAt": ts(last_finished_age),
                             "containerID": cid(restart_count)}}
        if message:
            st["terminated"]["message"] = message
    else:
        raise ValueError(f"unknown container state {state!r}")
    last: JSON = {}
    if last_reason:
        finished = last_finished_age if isinstance(last_finished_age, dt.timedelta) else \
            dt.timedelta(seconds=last_finished_age)
        last = {"terminated": {"exitCode": last_exit_code, "reason": last_reason,
                               "startedAt": ts(finished + dt.timedelta(seconds=20)),
                               "finishedAt": ts(finished), "containerID": cid(restart_count - 1)}}
    out: JSON = {
        "name": name, "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{digest(image)}" if image_pulled else "",
        "ready": state == "running" if ready is None else ready,
        "started": state == "running", "restartCount": restart_count,
        "state": st, "lastState": last,
    }
    if state != "waiting" or restart_count or last_reason:
        out["containerID"] = cid(restart_count)
    return out


def pod(name: str, namespace: str = "default", *, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None, owner: JSON | None = None,
        node_name: str | None = "node-1", phase: str = "Running",
        containers: list[JSON] | None = None, statuses: list[JSON] | None = None,
        conditions: list[JSON] | None = None, age: Age = 3600, uid: str | None = None,
        pod_ip: str = "10.244.1.23", volumes: list[JSON] | None = None,
        restart_policy: str = "Always", unschedulable_message: str | None = None) -> JSON:
    """A Pod. Defaults: one running, ready container ``app`` on ``node-1``.

    ``statuses`` defaults to a running status per container (none when not scheduled).
    Conditions are derived from the statuses unless given.
    """
    containers = containers or [container()]
    if statuses is None:
        statuses = [] if not node_name else [
            container_status(c["name"], c["image"], age=age) for c in containers]
    if conditions is None:
        ready = bool(statuses) and all(s["ready"] for s in statuses)
        unready = [s["name"] for s in statuses if not s["ready"]]
        msg = f"containers with unready status: [{' '.join(unready)}]" if unready else None
        if node_name:
            conditions = [
                cond("PodReadyToStartContainers", True, age=age, probe=True),
                cond("Initialized", True, age=age, probe=True),
                cond("Ready", ready, None if ready else "ContainersNotReady", msg, age=age,
                      probe=True),
                cond("ContainersReady", ready, None if ready else "ContainersNotReady", msg,
                      age=age, probe=True),
                cond("PodScheduled", True, age=age, probe=True),
            ]
        else:
            conditions = [cond("PodScheduled", False, "Unschedulable",
                                unschedulable_message, age=age, probe=True)]
    spec: JSON = {
        "containers": copy.deepcopy(containers), "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "schedulerName": "default-scheduler",
        "securityContext": {}, "priority": 0, "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
        ],
        "volumes": volumes or [],
    }
    if node_name:
        spec["nodeName"] = node_name
    status: JSON = {"phase": phase, "conditions": conditions, "qosClass": "Burstable"}
    if node_name:
        status.update(hostIP="10.0.0.11", hostIPs=[{"ip": "10.0.0.11"}], podIP=pod_ip,
                      podIPs=[{"ip": pod_ip}], startTime=ts(age), containerStatuses=statuses)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": object_meta(name, namespace, labels=labels, annotations=annotations,
                                    owner=owner, age=age, uid=uid),
            "spec": spec, "status": status}
