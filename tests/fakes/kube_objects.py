"""Builders of complete Kubernetes objects (as plain dicts) and consistent incident scenarios.

Every builder returns a dict shaped like what a real cluster serves, complete enough for the
real python client to deserialize with client-side validation on (required status fields,
ownerReferences with uid/controller, pod-template-hash labels...). Builders assign
``metadata.uid`` themselves so owner references are consistent before anything is stored;
:class:`FakeKubeAPI.add` keeps those uids and adds resourceVersion.

Scenarios (``crashlooping_deployment`` ...) return a :class:`Scenario`: all objects, the key
ones by role (``scenario["pod"]``), scripted logs and non-object facts; ``scenario.load(api)``
puts it into a :class:`FakeKubeAPI`.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .kube_api import FakeKubeAPI

JSON = dict[str, Any]
Age = float | dt.timedelta  # seconds ago, or a timedelta ago
REGISTRY = "registry.example.com"
_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated names


def ts(age: Age = 0) -> str:
    """RFC 3339 timestamp ``age`` ago (seconds or timedelta)."""
    delta = age if isinstance(age, dt.timedelta) else dt.timedelta(seconds=age)
    return (dt.datetime.now(dt.UTC) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def name_suffix(*seed: object, length: int = 5) -> str:
    """Deterministic generated-name suffix (``web-7d4b9c8f6d-x2k9p``)."""
    h = int(_digest(*seed), 16)
    out = []
    for _ in range(length):
        h, r = divmod(h, len(_CHARS))
        out.append(_CHARS[r])
    return "".join(out)


def _meta(name: str, namespace: str | None, *, labels: dict[str, str] | None = None,
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


def _cond(type_: str, status: str | bool, reason: str | None = None, message: str | None = None,
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
        return "containerd://" + _digest(name, image, n, age)

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
        "imageID": f"{image.split(':')[0]}@sha256:{_digest(image)}" if image_pulled else "",
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
                _cond("PodReadyToStartContainers", True, age=age, probe=True),
                _cond("Initialized", True, age=age, probe=True),
                _cond("Ready", ready, None if ready else "ContainersNotReady", msg, age=age,
                      probe=True),
                _cond("ContainersReady", ready, None if ready else "ContainersNotReady", msg,
                      age=age, probe=True),
                _cond("PodScheduled", True, age=age, probe=True),
            ]
        else:
            conditions = [_cond("PodScheduled", False, "Unschedulable",
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
            "metadata": _meta(name, namespace, labels=labels, annotations=annotations,
                              owner=owner, age=age, uid=uid),
            "spec": spec, "status": status}


# ---- workloads -----------------------------------------------------------------------------


def _template(labels: dict[str, str], containers: list[JSON],
              annotations: dict[str, str] | None = None, restart_policy: str = "Always") -> JSON:
    meta: JSON = {"labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"metadata": meta, "spec": {
        "containers": copy.deepcopy(containers), "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler", "securityContext": {}}}


def deployment(name: str, namespace: str = "default", *, replicas: int = 3,
               image: str | None = None, containers: list[JSON] | None = None,
               labels: dict[str, str] | None = None, revision: int = 1, age: Age = 86400,
               ready_replicas: int | None = None, updated_replicas: int | None = None,
               available_replicas: int | None = None, total_replicas: int | None = None,
               conditions: list[JSON] | None = None, uid: str | None = None,
               template_annotations: dict[str, str] | None = None) -> JSON:
    labels = labels or {"app": name}
    containers = containers or [container(image=image or f"{REGISTRY}/shop/{name}:1.0.0")]
    ready = replicas if ready_replicas is None else ready_replicas
    available = ready if available_replicas is None else available_replicas
    total = replicas if total_replicas is None else total_replicas
    status: JSON = {
        "observedGeneration": revision, "replicas": total,
        "updatedReplicas": replicas if updated_replicas is None else updated_replicas,
        "readyReplicas": ready, "availableReplicas": available,
        "conditions": conditions or [
            _cond("Available", available >= replicas, "MinimumReplicasAvailable"
                  if available >= replicas else "MinimumReplicasUnavailable",
                  "Deployment has minimum availability." if available >= replicas else
                  "Deployment does not have minimum availability.", age=age, update=age),
            _cond("Progressing", True, "NewReplicaSetAvailable",
                  f'ReplicaSet "{name}" has successfully progressed.', age=age, update=age),
        ],
    }
    if total - available > 0:
        status["unavailableReplicas"] = total - available
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta(name, namespace, labels=labels, age=age, uid=uid, generation=revision,
                          annotations={"deployment.kubernetes.io/revision": str(revision)}),
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                 "template": _template(labels, containers, template_annotations),
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                     "maxUnavailable": "25%", "maxSurge": "25%"}},
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
        "status": status,
    }


def replicaset(deploy: JSON, *, revision: int | None = None, replicas: int | None = None,
               ready_replicas: int | None = None, image: str | None = None,
               age: Age | None = None, uid: str | None = None) -> JSON:
    """A ReplicaSet owned by ``deploy`` (name ``<deploy>-<pod-template-hash>``)."""
    d_spec = deploy["spec"]
    revision = revision or int(deploy["metadata"]["annotations"]
                               ["deployment.kubernetes.io/revision"])
    template = copy.deepcopy(d_spec["template"])
    if image:
        for c in template["spec"]["containers"][:1]:
            c["image"] = image
    pth = name_suffix(deploy["metadata"]["name"], revision, template, length=10)
    template["metadata"]["labels"]["pod-template-hash"] = pth
    replicas = d_spec["replicas"] if replicas is None else replicas
    ready = replicas if ready_replicas is None else ready_replicas
    selector = copy.deepcopy(d_spec["selector"])
    selector["matchLabels"]["pod-template-hash"] = pth
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": _meta(f"{deploy['metadata']['name']}-{pth}", deploy["metadata"]["namespace"],
                          labels=template["metadata"]["labels"], owner=deploy, uid=uid,
                          age=deploy_age(deploy) if age is None else age, generation=1,
                          annotations={"deployment.kubernetes.io/revision": str(revision),
                                       "deployment.kubernetes.io/desired-replicas":
                                           str(d_spec["replicas"]),
                                       "deployment.kubernetes.io/max-replicas":
                                           str(d_spec["replicas"] + 1)}),
        "spec": {"replicas": replicas, "minReadySeconds": 0, "selector": selector,
                 "template": template},
        "status": {"replicas": replicas, "fullyLabeledReplicas": replicas,
                   "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": 1},
    }


def deploy_age(obj: JSON) -> dt.timedelta:
    created = dt.datetime.strptime(obj["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    return dt.datetime.now(dt.UTC) - created.replace(tzinfo=dt.UTC)


def pod_for(owner: JSON, index: int = 0, *, statuses: list[JSON] | None = None,
            node_name: str | None = "node-1", phase: str = "Running", age: Age | None = None,
            **kwargs: Any) -> JSON:
    """A pod created by ``owner`` (ReplicaSet, Job, StatefulSet, DaemonSet)."""
    tpl = owner["spec"]["template"]
    if owner["kind"] == "StatefulSet":
        name = f"{owner['metadata']['name']}-{index}"
    else:
        name = f"{owner['metadata']['name']}-{name_suffix(owner['metadata']['uid'], index)}"
    labels = dict(tpl["metadata"].get("labels") or {})
    if owner["kind"] == "StatefulSet":
        labels["statefulset.kubernetes.io/pod-name"] = name
        labels["apps.kubernetes.io/pod-index"] = str(index)
    return pod(name, owner["metadata"]["namespace"], labels=labels, owner=owner,
               node_name=node_name, phase=phase, containers=tpl["spec"]["containers"],
               statuses=statuses, age=deploy_age(owner) if age is None else age,
               restart_policy=tpl["spec"].get("restartPolicy", "Always"),
               volumes=tpl["spec"].get("volumes"), **kwargs)


def statefulset(name: str, namespace: str = "default", *, replicas: int = 1,
                image: str | None = None, storage: str | None = "10Gi",
                ready_replicas: int | None = None, age: Age = 86400 * 30) -> JSON:
    labels = {"app": name}
    ctr = container(image=image or f"{REGISTRY}/{name}:16.2", ports=[5432])
    if storage:
        ctr["volumeMounts"] = [{"name": "data", "mountPath": "/var/lib/data"}]
    rev = f"{name}-{name_suffix(name, image, length=10)}"
    ready = replicas if ready_replicas is None else ready_replicas
    spec: JSON = {"replicas": replicas, "serviceName": name,
                  "selector": {"matchLabels": labels}, "template": _template(labels, [ctr]),
                  "podManagementPolicy": "OrderedReady", "revisionHistoryLimit": 10,
                  "updateStrategy": {"type": "RollingUpdate",
                                     "rollingUpdate": {"partition": 0}},
                  "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                                                           "whenScaled": "Retain"}}
    if storage:
        spec["volumeClaimTemplates"] = [{
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
                     "resources": {"requests": {"storage": storage}}}}]
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": _meta(name, namespace, labels=labels, age=age, generation=1),
            "spec": spec,
            "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": ready,
                       "currentReplicas": replicas, "updatedReplicas": replicas,
                       "availableReplicas": ready, "currentRevision": rev,
                       "updateRevision": rev, "collisionCount": 0}}


def daemonset(name: str, namespace: str = "kube-system", *, desired: int = 3,
              ready: int | None = None, image: str | None = None, age: Age = 86400 * 30) -> JSON:
    labels = {"app": name}
    ready = desired if ready is None else ready
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": _meta(name, namespace, labels=labels, age=age, generation=1),
            "spec": {"selector": {"matchLabels": labels},
                     "template": _template(labels, [container(
                         image=image or f"{REGISTRY}/infra/{name}:1.0.0")]),
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
                         "maxUnavailable": 1, "maxSurge": 0}},
                     "revisionHistoryLimit": 10},
            "status": {"currentNumberScheduled": desired, "desiredNumberScheduled": desired,
                       "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                       "updatedNumberScheduled": desired, "observedGeneration": 1}}


def cronjob(name: str, namespace: str = "default", *, schedule: str = "0 2 * * *",
            image: str | None = None, backoff_limit: int = 3, last_schedule_age: Age = 3600,
            suspend: bool = False, age: Age = 86400 * 30) -> JSON:
    ctr = container(image=image or f"{REGISTRY}/batch/{name}:1.0.0")
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": _meta(name, namespace, age=age, generation=1),
            "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid", "suspend": suspend,
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                     "jobTemplate": {"metadata": {}, "spec": {
                         "backoffLimit": backoff_limit,
                         "template": _template({}, [ctr], restart_policy="Never")}}},
            "status": {"lastScheduleTime": ts(last_schedule_age), "active": []}}


def job(name: str, namespace: str = "default", *, owner: JSON | None = None,
        image: str | None = None, backoff_limit: int = 3, active: int = 0, succeeded: int = 0,
        failed: int = 0, conditions: list[JSON] | None = None, age: Age = 3600) -> JSON:
    """A batch/v1 Job; with ``owner`` (a CronJob) its template comes from the CronJob's."""
    uid = str(uuid.uuid4())
    sel = {"batch.kubernetes.io/controller-uid": uid}
    labels = {**sel, "batch.kubernetes.io/job-name": name, "controller-uid": uid,
              "job-name": name}
    if owner is not None:
        tpl = copy.deepcopy(owner["spec"]["jobTemplate"]["spec"]["template"])
        backoff_limit = owner["spec"]["jobTemplate"]["spec"].get("backoffLimit", backoff_limit)
    else:
        tpl = _template({}, [container(image=image or f"{REGISTRY}/batch/{name}:1.0.0")],
                        restart_policy="Never")
    tpl["metadata"]["labels"] = dict(labels)
    status: JSON = {"startTime": ts(age), "active": active, "ready": 0, "terminating": 0,
                    "uncountedTerminatedPods": {}}
    if succeeded:
        status["succeeded"] = succeeded
    if failed:
        status["failed"] = failed
    if conditions:
        status["conditions"] = conditions
    annotations = {"batch.kubernetes.io/job-tracking": ""}
    if owner is not None:
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = ts(age)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": _meta(name, namespace, labels=labels, owner=owner, age=age, uid=uid,
                              generation=1, annotations=annotations),
            "spec": {"parallelism": 1, "completions": 1, "backoffLimit": backoff_limit,
                     "completionMode": "NonIndexed", "suspend": False,
                     "manualSelector": False, "podReplacementPolicy": "TerminatingOrFailed",
                     "selector": {"matchLabels": sel}, "template": tpl},
            "status": status}


# ---- cluster objects -----------------------------------------------------------------------


def node(name: str, *, ready: bool | str = True, taints: list[JSON] | None = None,
         cpu: str = "4", memory: str = "16Gi", allocatable_cpu: str | None = None,
         labels: dict[str, str] | None = None, unschedulable: bool = False,
         age: Age = 86400 * 60, heartbeat_age: Age = 10, internal_ip: str = "10.0.0.11",
         conditions: list[JSON] | None = None) -> JSON:
    """A Node. ``ready``: True, False or ``"Unknown"`` (kubelet stopped posting status)."""
    if conditions is None:
        if ready == "Unknown":
            msg = "Kubelet stopped posting node status."
            conditions = [_cond(t, "Unknown", "NodeStatusUnknown", msg, 300,
                                heartbeat=heartbeat_age)
                          for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
        else:
            conditions = [
                _cond("MemoryPressure", False, "KubeletHasSufficientMemory",
                      "kubelet has sufficient memory available", age, heartbeat=heartbeat_age),
                _cond("DiskPressure", False, "KubeletHasNoDiskPressure",
                      "kubelet has no disk pressure", age, heartbeat=heartbeat_age),
                _cond("PIDPressure", False, "KubeletHasSufficientPID",
                      "kubelet has sufficient PID available", age, heartbeat=heartbeat_age),
                _cond("Ready", bool(ready), "KubeletReady" if ready else "KubeletNotReady",
                      "kubelet is posting ready status" if ready else
                      "container runtime network not ready", age, heartbeat=heartbeat_age),
            ]
    spec: JSON = {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"],
                  "providerID": f"fake://{name}"}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"}
    alloc = dict(capacity, cpu=allocatable_cpu or cpu)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": _meta(name, None, age=age, labels={
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "m5.xlarge",
                "topology.kubernetes.io/zone": "zone-a", **(labels or {})}),
            "spec": spec,
            "status": {"capacity": capacity, "allocatable": alloc, "conditions": conditions,
                       "addresses": [{"type": "InternalIP", "address": internal_ip},
                                     {"type": "Hostname", "address": name}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"machineID": _digest(name)[:32],
                                    "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
                                    "bootID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                                    "kernelVersion": "6.1.0-18-amd64",
                                    "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "containerRuntimeVersion": "containerd://1.7.13",
                                    "kubeletVersion": "v1.31.0", "kubeProxyVersion": "v1.31.0",
                                    "operatingSystem": "linux", "architecture": "amd64"}}}


def unreachable_taints(age: Age = 300) -> list[JSON]:
    return [{"key": "node.kubernetes.io/unreachable", "effect": e, "timeAdded": ts(age)}
            for e in ("NoSchedule", "NoExecute")]


def namespace(name: str, age: Age = 86400 * 90) -> JSON:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": _meta(name, None, age=age,
                              labels={"kubernetes.io/metadata.name": name}),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def pvc(name: str, namespace: str = "default", *, size: str = "10Gi",
        storage_class: str = "standard", phase: str = "Bound", labels: dict[str, str] | None = None,
        age: Age = 86400 * 30) -> JSON:
    volume = f"pvc-{uuid.uuid5(uuid.NAMESPACE_URL, namespace + '/' + name)}"
    spec: JSON = {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                  "volumeMode": "Filesystem", "resources": {"requests": {"storage": size}}}
    status: JSON = {"phase": phase}
    if phase == "Bound":
        spec["volumeName"] = volume
        status.update(accessModes=["ReadWriteOnce"], capacity={"storage": size})
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(name, namespace, labels=labels, age=age, annotations={
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.kubernetes.io/storage-provisioner": "pd.csi.storage.gke.io"}),
            "spec": spec, "status": status}


def hpa(target: JSON, *, min_replicas: int = 2, max_replicas: int = 10,
        current_replicas: int | None = None, desired_replicas: int | None = None,
        cpu_target: int = 70, cpu_current: int | None = 45, conditions: list[JSON] | None = None,
        name: str | None = None, age: Age = 86400 * 7) -> JSON:
    """An autoscaling/v2 HPA on CPU utilization, scaling ``target`` (a workload dict)."""
    current = target["spec"]["replicas"] if current_replicas is None else current_replicas
    status: JSON = {"currentReplicas": current,
                    "desiredReplicas": current if desired_replicas is None else desired_replicas,
                    "lastScaleTime": ts(600)}
    if cpu_current is not None:
        status["currentMetrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "current": {"averageUtilization": cpu_current,
                                       "averageValue": f"{cpu_current}m"}}}]
    status["conditions"] = conditions or [
        _cond("AbleToScale", True, "ReadyForNewScale", "recommended size matches current size"),
        _cond("ScalingActive", True, "ValidMetricFound", "the HPA was able to successfully "
              "calculate a replica count from cpu resource utilization (percentage of request)"),
        _cond("ScalingLimited", False, "DesiredWithinRange",
              "the desired count is within the acceptable range"),
    ]
    t_meta = target["metadata"]
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(name or t_meta["name"], t_meta["namespace"], age=age,
                              generation=1),
            "spec": {"scaleTargetRef": {"apiVersion": target["apiVersion"],
                                        "kind": target["kind"], "name": t_meta["name"]},
                     "minReplicas": min_replicas, "maxReplicas": max_replicas,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": cpu_target}}}]},
            "status": status}


def pdb(name: str, namespace: str = "default", *, match_labels: dict[str, str],
        min_available: int | str | None = None, max_unavailable: int | str | None = None,
        expected_pods: int = 3, current_healthy: int | None = None,
        desired_healthy: int | None = None, disruptions_allowed: int | None = None,
        age: Age = 86400 * 7) -> JSON:
    """A policy/v1 PodDisruptionBudget; status derived from the counts unless given."""
    if min_available is None and max_unavailable is None:
        min_available = max(expected_pods - 1, 0)
    healthy = expected_pods if current_healthy is None else current_healthy
    if desired_healthy is None:
        desired_healthy = min_available if isinstance(min_available, int) else \
            expected_pods - (max_unavailable if isinstance(max_unavailable, int) else 1)
    allowed = max(healthy - desired_healthy, 0) if disruptions_allowed is None else \
        disruptions_allowed
    spec: JSON = {"selector": {"matchLabels": dict(match_labels)}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": _meta(name, namespace, age=age, generation=1), "spec": spec,
            "status": {"observedGeneration": 1, "currentHealthy": healthy,
                       "desiredHealthy": desired_healthy, "disruptionsAllowed": allowed,
                       "expectedPods": expected_pods, "conditions": [{  # a metav1.Condition
                           "type": "DisruptionAllowed", "status": "True" if allowed else "False",
                           "reason": "SufficientPods" if allowed else "InsufficientPods",
                           "message": "", "observedGeneration": 1,
                           "lastTransitionTime": ts(age)}]}}


def lease(name: str, namespace: str = "default", *, holder: str | None = None,
          duration_seconds: int = 15, renew_age: Age = 1) -> JSON:
    micro = ts(renew_age).replace("Z", ".000000Z")
    spec: JSON = {"leaseDurationSeconds": duration_seconds, "leaseTransitions": 0}
    if holder:
        spec.update(holderIdentity=holder, acquireTime=micro, renewTime=micro)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": _meta(name, namespace, age=renew_age), "spec": spec}


def event(involved: JSON, reason: str, message: str, *, type: str = "Warning",  # noqa: A002
          count: int = 1, first_age: Age = 600, last_age: Age = 30,
          component: str = "kubelet", host: str | None = None,
          field_path: str | None = None) -> JSON:
    """A core/v1 Event about ``involved`` (any object dict), like kubelet/controllers emit."""
    meta = involved["metadata"]
    ns = meta.get("namespace", "default")
    ref: JSON = {"apiVersion": involved["apiVersion"], "kind": involved["kind"],
                 "name": meta["name"], "uid": meta["uid"]}
    if "namespace" in meta:
        ref["namespace"] = ns
    if field_path:
        ref["fieldPath"] = field_path
    source: JSON = {"component": component}
    if host:
        source["host"] = host
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": _meta(f"{meta['name']}.{_digest(meta['uid'], reason, message)[:16]}",
                              ns, age=first_age),
            "involvedObject": ref, "reason": reason, "message": message, "type": type,
            "count": count, "firstTimestamp": ts(first_age), "lastTimestamp": ts(last_age),
            "eventTime": None, "reportingComponent": component,
            "reportingInstance": host or "", "source": source}


# ---- scenarios -----------------------------------------------------------------------------


@dataclass
class Scenario:
    """A consistent set of objects for one incident type."""

    name: str
    namespace: str
    objects: list[JSON]
    roles: dict[str, Any]  # e.g. "deployment", "replicaset", "pod", "events"
    logs: list[tuple[str, str, str, str, bool]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # what isn't an object (metrics...)

    def __getitem__(self, role: str) -> Any:
        return self.roles[role]

    def load(self, api: FakeKubeAPI) -> Scenario:
        for obj in self.objects:
            api.add(obj)
        for ns, pod_name, ctr, text, previous in self.logs:
            api.set_logs(ns, pod_name, ctr, text, previous=previous)
        return self


def load(api: FakeKubeAPI, *scenarios: Scenario) -> list[Scenario]:
    return [s.load(api) for s in scenarios]


def _scenario(name: str, ns: str, roles: dict[str, Any], **kw: Any) -> Scenario:
    objs: list[JSON] = []
    for value in roles.values():
        for obj in value if isinstance(value, list) else [value]:
            if obj is not None and not any(o is obj for o in objs):
                objs.append(obj)
    return Scenario(name, ns, objs, roles, **kw)


def _rollout(ns: str, name: str, *, replicas: int, new_image: str, old_image: str | None,
             new_age: Age, ready: int, available: int | None = None) -> tuple[JSON, JSON,
                                                                            JSON | None]:
    revision = 2 if old_image else 1
    d = deployment(name, ns, replicas=replicas, image=new_image, revision=revision,
                   ready_replicas=ready, available_replicas=available, age=86400 * 40)
    new_rs = replicaset(d, revision=revision, age=new_age, ready_replicas=0)
    old_rs = None
    if old_image:
        old_rs = replicaset(d, revision=1, replicas=0, image=old_image, age=86400 * 40)
    return d, new_rs, old_rs


def crashlooping_deployment(ns: str = "shop", name: str = "checkout",
                            replicas: int = 1) -> Scenario:
    image = f"{REGISTRY}/shop/{name}:1.4.2"
    d, rs, old = _rollout(ns, name, replicas=replicas, new_image=image,
                          old_image=f"{REGISTRY}/shop/{name}:1.4.1", new_age=1200, ready=0)
    d["status"]["conditions"][1].update(status="False", reason="ProgressDeadlineExceeded",
                                        message=f'ReplicaSet "{rs["metadata"]["name"]}" has '
                                        "timed out progressing.")
    pods, events, logs = [], [], []
    text = (f"2024-05-01T10:00:00Z INFO starting {name} 1.4.2\n"
            "2024-05-01T10:00:00Z INFO loading configuration from environment\n"
            "Traceback (most recent call last):\n"
            '  File "/app/main.py", line 42, in <module>\n'
            '    db = connect(os.environ["DATABASE_URL"])\n'
            "KeyError: 'DATABASE_URL'\n")
    for i in range(replicas):
        p = pod_for(rs, i, age=1200)
        msg = (f"back-off 5m0s restarting failed container=app "
               f"pod={p['metadata']['name']}_{ns}({p['metadata']['uid']})")
        p = pod_for(rs, i, age=1200, uid=p["metadata"]["uid"], statuses=[container_status(
            "app", image, state="waiting", reason="CrashLoopBackOff", message=msg,
            restart_count=7, last_reason="Error", last_exit_code=1, age=1200)])
        pods.append(p)
        # kubelet serves the last terminated container for both current and previous logs
        logs += [(ns, p["metadata"]["name"], "app", text, True),
                 (ns, p["metadata"]["name"], "app", text, False)]
        fp = "spec.containers{app}"
        events += [
            event(p, "BackOff", f"Back-off restarting failed container app in pod "
                  f"{p['metadata']['name']}_{ns}({p['metadata']['uid']})", count=42,
                  first_age=1150, last_age=20, field_path=fp, host="node-1"),
            event(p, "Pulled", f'Container image "{image}" already present on machine',
                  type="Normal", count=8, first_age=1190, last_age=300, field_path=fp),
            event(p, "Created", "Created container app", type="Normal", count=8,
                  first_age=1190, last_age=300, field_path=fp),
            event(p, "Started", "Started container app", type="Normal", count=8,
                  first_age=1190, last_age=300, field_path=fp),
        ]
    events.append(event(d, "ScalingReplicaSet", f"Scaled up replica set "
                        f"{rs['metadata']['name']} to {replicas}", type="Normal",
                        component="deployment-controller", first_age=1200, last_age=1200))
    return _scenario("crashlooping_deployment", ns, {
        "deployment": d, "replicaset": rs, "old_replicaset": old, "pod": pods[0], "pods": pods,
        "events": events}, logs=logs)


def stable_crashlooping_deployment(ns: str = "shop", name: str = "checkout") -> Scenario:
    """`crashlooping_deployment` on a revision two hours old with no older ReplicaSet (no
    rollback applies) and no replica available: the runbook's case for a rollout restart."""
    s = crashlooping_deployment(ns, name)
    s.roles["replicaset"]["metadata"]["creationTimestamp"] = ts(7200)
    s.objects = [o for o in s.objects if o is not s.roles["old_replicaset"]]
    return s


def heal_pod(p: JSON) -> None:
    """What the kubelet reports once a restarted pod's container runs and passes its probe (a
    `FakeKubeAPI.mutate` callback)."""
    status = p["status"]["containerStatuses"][0]
    status["state"] = {"running": {"startedAt": ts(0)}}
    status["ready"] = True
    for c in p["status"]["conditions"]:
        if c["type"] in ("Ready", "ContainersReady"):
            c["status"] = "True"


def roll_out(d: JSON) -> None:
    """What the Deployment controller reports once the restarted pods are ready (a
    `FakeKubeAPI.mutate` callback)."""
    d["status"].update(availableReplicas=1, readyReplicas=1, updatedReplicas=1,
                       observedGeneration=d["metadata"]["generation"])
    for c in d["status"]["conditions"]:
        c["status"] = "True"
        c["reason"] = {"Available": "MinimumReplicasAvailable",
                       "Progressing": "NewReplicaSetAvailable"}[c["type"]]


def oomkilled_pod(ns: str = "shop", name: str = "cart", memory_limit: str = "256Mi") -> Scenario:
    image = f"{REGISTRY}/shop/{name}:2.0.3"
    d = deployment(name, ns, replicas=1, containers=[container(
        image=image, requests={"cpu": "100m", "memory": memory_limit},
        limits={"memory": memory_limit})])
    rs = replicaset(d)
    p = pod_for(rs, 0, statuses=[container_status(
        "app", image, restart_count=3, last_reason="OOMKilled", last_exit_code=137, age=240,
        last_finished_age=245)])
    text = ("INFO  warming product cache\nINFO  cached 250000 products\n"
            "INFO  cached 500000 products\nINFO  cached 750000 products\n")
    events = [event(p, "BackOff", "Back-off restarting failed container app in pod "
                    f"{p['metadata']['name']}_{ns}({p['metadata']['uid']})", count=3,
                    field_path="spec.containers{app}", last_age=250),
              event(p, "Started", "Started container app", type="Normal", count=4,
                    field_path="spec.containers{app}", last_age=240)]
    return _scenario("oomkilled_pod", ns, {"deployment": d, "replicaset": rs, "pod": p,
                                           "events": events},
                     logs=[(ns, p["metadata"]["name"], "app", text, True),
                           (ns, p["metadata"]["name"], "app", "INFO  warming product cache\n",
                            False)],
                     facts={"memory_limit": memory_limit})


def image_pull_backoff(ns: str = "shop", name: str = "frontend") -> Scenario:
    good, bad = f"{REGISTRY}/shop/{name}:2.3.0", f"{REGISTRY}/shop/{name}:2.31"
    d, new_rs, old_rs = _rollout(ns, name, replicas=2, new_image=bad, old_image=good,
                                 new_age=300, ready=2, available=2)
    assert old_rs is not None
    d["status"].update(replicas=3, updatedReplicas=1, unavailableReplicas=1)
    d["status"]["conditions"][1].update(reason="ReplicaSetUpdated", message=(
        f'ReplicaSet "{new_rs["metadata"]["name"]}" is progressing.'))
    new_rs["spec"]["replicas"] = new_rs["status"]["replicas"] = 1
    new_rs["status"]["fullyLabeledReplicas"] = 1
    old_rs["spec"]["replicas"] = 2
    old_rs["status"].update(replicas=2, fullyLabeledReplicas=2, readyReplicas=2,
                            availableReplicas=2)
    old_pods = [pod_for(old_rs, i) for i in range(2)]
    bad_pod = pod_for(new_rs, 0, age=300, statuses=[container_status(
        "app", bad, state="waiting", reason="ImagePullBackOff",
        message=f'Back-off pulling image "{bad}"', image_pulled=False)])
    fp = "spec.containers{app}"
    err = (f'Failed to pull image "{bad}": rpc error: code = NotFound desc = failed to pull and '
           f'unpack image "{bad}": failed to resolve reference "{bad}": {bad}: not found')
    events = [
        event(bad_pod, "Pulling", f'Pulling image "{bad}"', type="Normal", count=4,
              first_age=295, last_age=60, field_path=fp),
        event(bad_pod, "Failed", err, count=4, first_age=294, last_age=59, field_path=fp),
        event(bad_pod, "Failed", "Error: ErrImagePull", count=4, first_age=294, last_age=59,
              field_path=fp),
        event(bad_pod, "BackOff", f'Back-off pulling image "{bad}"', type="Normal", count=12,
              first_age=290, last_age=10, field_path=fp),
        event(bad_pod, "Failed", "Error: ImagePullBackOff", count=12, first_age=290,
              last_age=10, field_path=fp),
        event(d, "ScalingReplicaSet", f"Scaled up replica set {new_rs['metadata']['name']} "
              "to 1", type="Normal", component="deployment-controller", first_age=300,
              last_age=300),
    ]
    return _scenario("image_pull_backoff", ns, {
        "deployment": d, "replicaset": new_rs, "old_replicaset": old_rs, "pod": bad_pod,
        "old_pods": old_pods, "events": events}, facts={"bad_image": bad, "good_image": good})


def pending_unschedulable_pod(ns: str = "analytics", name: str = "spark-driver",
                              node_prefix: str = "cpu-pool") -> Scenario:
    msg = "0/3 nodes are available: 3 Insufficient cpu."
    d = deployment(name, ns, replicas=1, ready_replicas=0, containers=[container(
        image=f"{REGISTRY}/analytics/{name}:3.5.1", requests={"cpu": "6", "memory": "8Gi"})])
    rs = replicaset(d, ready_replicas=0)
    p = pod_for(rs, 0, node_name=None, phase="Pending", age=900, unschedulable_message=msg)
    nodes = [node(f"{node_prefix}-{i}", cpu="4", allocatable_cpu="3920m",
                  internal_ip=f"10.0.0.{20 + i}") for i in range(1, 4)]
    events = [event(p, "FailedScheduling", msg, count=15, first_age=900, last_age=45,
                    component="default-scheduler")]
    return _scenario("pending_unschedulable_pod", ns, {
        "deployment": d, "replicaset": rs, "pod": p, "nodes": nodes, "events": events})


def notready_node(name: str = "worker-7", ns: str = "shop", app: str = "inventory") -> Scenario:
    n = node(name, ready="Unknown", taints=unreachable_taints(300), heartbeat_age=400,
             internal_ip="10.0.0.77")
    d = deployment(app, ns, replicas=1, ready_replicas=0)
    rs = replicaset(d, ready_replicas=0)
    p = pod_for(rs, 0, node_name=name)
    for c in p["status"]["conditions"]:
        if c["type"] == "Ready":
            c.update(status="False", lastTransitionTime=ts(290))
            c.pop("reason", None)
    events = [
        event(n, "NodeNotReady", f"Node {name} status is now: NodeNotReady", type="Normal",
              component="node-controller", first_age=300, last_age=300),
        event(p, "NodeNotReady", "Node is not ready", component="node-controller",
              first_age=290, last_age=290),
    ]
    return _scenario("notready_node", ns, {"node": n, "deployment": d, "replicaset": rs,
                                           "pod": p, "events": events})


def pvc_near_full(ns: str = "data", name: str = "postgres", used_ratio: float = 0.93) -> Scenario:
    sts = statefulset(name, ns, storage="10Gi")
    claim = pvc(f"data-{name}-0", ns, size="10Gi", labels={"app": name})
    p = pod_for(sts, 0)
    p["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {
        "claimName": claim["metadata"]["name"]}}]
    capacity = 10 * 1024**3
    text = ("LOG:  checkpoint starting: time\n"
            "LOG:  checkpoint complete: wrote 8123 buffers (49.6%)\n"
            "LOG:  automatic vacuum of table \"app.public.events\": index scans: 1\n")
    return _scenario("pvc_near_full", ns, {"statefulset": sts, "pvc": claim, "pod": p},
                     logs=[(ns, p["metadata"]["name"], "app", text, False)],
                     facts={"capacity_bytes": capacity,
                            "used_bytes": int(capacity * used_ratio),
                            "available_bytes": capacity - int(capacity * used_ratio),
                            "used_ratio": used_ratio})


def hpa_at_max(ns: str = "shop", name: str = "search", max_replicas: int = 5) -> Scenario:
    d = deployment(name, ns, replicas=max_replicas, age=86400 * 20)
    rs = replicaset(d)
    pods = [pod_for(rs, i) for i in range(max_replicas)]
    h = hpa(d, min_replicas=2, max_replicas=max_replicas, cpu_target=70, cpu_current=185,
            desired_replicas=max_replicas, conditions=[
                _cond("AbleToScale", True, "ReadyForNewScale",
                      "recommended size matches current size"),
                _cond("ScalingActive", True, "ValidMetricFound", "the HPA was able to "
                      "successfully calculate a replica count from cpu resource utilization "
                      "(percentage of request)"),
                _cond("ScalingLimited", True, "TooManyReplicas",
                      "the desired replica count is more than the maximum replica count", 600),
            ])
    events = [event(h, "SuccessfulRescale", f"New size: {max_replicas}; reason: cpu resource "
                    "utilization (percentage of request) above target", type="Normal",
                    component="horizontal-pod-autoscaler", first_age=600, last_age=600)]
    return _scenario("hpa_at_max", ns, {"deployment": d, "replicaset": rs, "pods": pods,
                                        "hpa": h, "events": events})


def failed_job(ns: str = "batch", cronjob_name: str = "nightly-report",
               backoff_limit: int = 3) -> Scenario:
    cj = cronjob(cronjob_name, ns, backoff_limit=backoff_limit, last_schedule_age=1800)
    scheduled = int((dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1800)).timestamp() // 60)
    reason, msg = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    j = job(f"{cronjob_name}-{scheduled}", ns, owner=cj, failed=backoff_limit + 1, age=1800,
            conditions=[_cond("FailureTarget", True, reason, msg, 60, probe=True),
                        _cond("Failed", True, reason, msg, 60, probe=True)])
    image = j["spec"]["template"]["spec"]["containers"][0]["image"]
    text = ("INFO generating report for 2024-04-30\n"
            "ERROR query failed: relation \"daily_sales\" does not exist\n"
            "Traceback (most recent call last):\n"
            "psycopg2.errors.UndefinedTable: relation \"daily_sales\" does not exist\n")
    pods, logs = [], []
    for i in range(backoff_limit + 1):
        p = pod_for(j, i, phase="Failed", age=1800 - i * 300, statuses=[container_status(
            "app", image, state="terminated", exit_code=1, ready=False, age=1800 - i * 300,
            last_finished_age=1790 - i * 300)])
        pods.append(p)
        logs.append((ns, p["metadata"]["name"], "app", text, False))
    events = [event(j, "SuccessfulCreate", f"Created pod: {p['metadata']['name']}",
                    type="Normal", component="job-controller") for p in pods]
    events += [
        event(j, reason, msg, component="job-controller", first_age=60, last_age=60),
        event(cj, "SuccessfulCreate", f"Created job {j['metadata']['name']}", type="Normal",
              component="cronjob-controller", first_age=1800, last_age=1800),
        event(cj, "SawCompletedJob", f"Saw completed job: {j['metadata']['name']}, "
              "status: Failed", type="Normal", component="cronjob-controller", first_age=55,
              last_age=55),
    ]
    return _scenario("failed_job", ns, {"cronjob": cj, "job": j, "pod": pods[-1], "pods": pods,
                                        "events": events}, logs=logs)


ALL_SCENARIOS = (crashlooping_deployment, oomkilled_pod, image_pull_backoff,
                 pending_unschedulable_pod, notready_node, pvc_near_full, hpa_at_max, failed_job)
