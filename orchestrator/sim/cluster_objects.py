"""Builders of cluster-level and supporting objects: Nodes, Namespaces, PVCs, HPAs, PDBs,
Leases and Events."""

from __future__ import annotations

import uuid

from .pods import JSON, Age, cond, digest, object_meta, ts

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
            conditions = [cond(t, "Unknown", "NodeStatusUnknown", msg, 300,
                                heartbeat=heartbeat_age)
                          for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
        else:
            conditions = [
                cond("MemoryPressure", False, "KubeletHasSufficientMemory",
                      "kubelet has sufficient memory available", age, heartbeat=heartbeat_age),
                cond("DiskPressure", False, "KubeletHasNoDiskPressure",
                      "kubelet has no disk pressure", age, heartbeat=heartbeat_age),
                cond("PIDPressure", False, "KubeletHasSufficientPID",
                      "kubelet has sufficient PID available", age, heartbeat=heartbeat_age),
                cond("Ready", bool(ready), "KubeletReady" if ready else "KubeletNotReady",
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
            "metadata": object_meta(name, None, age=age, labels={
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "m5.xlarge",
                "topology.kubernetes.io/zone": "zone-a", **(labels or {})}),
            "spec": spec,
            "status": {"capacity": capacity, "allocatable": alloc, "conditions": conditions,
                       "addresses": [{"type": "InternalIP", "address": internal_ip},
                                     {"type": "Hostname", "address": name}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"machineID": digest(name)[:32],
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
            "metadata": object_meta(name, None, age=age,
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
            "metadata": object_meta(name, namespace, labels=labels, age=age, annotations={
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
        cond("AbleToScale", True, "ReadyForNewScale", "recommended size matches current size"),
        cond("ScalingActive", True, "ValidMetricFound", "the HPA was able to successfully "
              "calculate a replica count from cpu resource utilization (percentage of request)"),
        cond("ScalingLimited", False, "DesiredWithinRange",
              "the desired count is within the acceptable range"),
    ]
    t_meta = target["metadata"]
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": object_meta(name or t_meta["name"], t_meta["namespace"], age=age,
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
            "metadata": object_meta(name, namespace, age=age, generation=1), "spec": spec,
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
            "metadata": object_meta(name, namespace, age=renew_age), "spec": spec}


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
            "metadata": object_meta(f"{meta['name']}.{digest(meta['uid'], reason, message)[:16]}",
                                    ns, age=first_age),
            "involvedObject": ref, "reason": reason, "message": message, "type": type,
            "count": count, "firstTimestamp": ts(first_age), "lastTimestamp": ts(last_age),
            "eventTime": None, "reportingComponent": component,
            "reportingInstance": host or "", "source": source}
