"""Builders of workload objects: Deployments and their ReplicaSets (and their pods),
StatefulSets, DaemonSets, CronJobs and Jobs."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import Any

from .pods import (
    JSON,
    REGISTRY,
    Age,
    cond,
    container,
    name_suffix,
    object_meta,
    pod,
    ts,
)

# ---- workloads -----------------------------------------------------------------------------


def pod_template(labels: dict[str, str], containers: list[JSON],
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
            cond("Available", available >= replicas, "MinimumReplicasAvailable"
                  if available >= replicas else "MinimumReplicasUnavailable",
                  "Deployment has minimum availability." if available >= replicas else
                  "Deployment does not have minimum availability.", age=age, update=age),
            cond("Progressing", True, "NewReplicaSetAvailable",
                  f'ReplicaSet "{name}" has successfully progressed.', age=age, update=age),
        ],
    }
    if total - available > 0:
        status["unavailableReplicas"] = total - available
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": object_meta(
            name, namespace, labels=labels, age=age, uid=uid, generation=revision,
            annotations={"deployment.kubernetes.io/revision": str(revision)}),
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                 "template": pod_template(labels, containers, template_annotations),
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
        "metadata": object_meta(f"{deploy['metadata']['name']}-{pth}",
                                deploy["metadata"]["namespace"],
                                labels=template["metadata"]["labels"], owner=deploy, uid=uid,
                                age=deploy_age(deploy) if age is None else age, generation=1,
                                annotations={
                                    "deployment.kubernetes.io/revision": str(revision),
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
                  "selector": {"matchLabels": labels}, "template": pod_template(labels, [ctr]),
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
            "metadata": object_meta(name, namespace, labels=labels, age=age, generation=1),
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
            "metadata": object_meta(name, namespace, labels=labels, age=age, generation=1),
            "spec": {"selector": {"matchLabels": labels},
                     "template": pod_template(labels, [container(
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
            "metadata": object_meta(name, namespace, age=age, generation=1),
            "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid", "suspend": suspend,
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                     "jobTemplate": {"metadata": {}, "spec": {
                         "backoffLimit": backoff_limit,
                         "template": pod_template({}, [ctr], restart_policy="Never")}}},
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
        tpl = pod_template({}, [container(image=image or f"{REGISTRY}/batch/{name}:1.0.0")],
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
            "metadata": object_meta(name, namespace, labels=labels, owner=owner, age=age, uid=uid,
                                    generation=1, annotations=annotations),
            "spec": {"parallelism": 1, "completions": 1, "backoffLimit": backoff_limit,
                     "completionMode": "NonIndexed", "suspend": False,
                     "manualSelector": False, "podReplacementPolicy": "TerminatingOrFailed",
                     "selector": {"matchLabels": sel}, "template": tpl},
            "status": status}
