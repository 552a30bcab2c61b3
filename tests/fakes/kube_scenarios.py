"""Consistent incident scenarios over the builders (``crashlooping_deployment`` ...): each returns
a :class:`Scenario`: all objects, the key ones by role (``scenario["pod"]``), scripted logs and
non-object facts; ``scenario.load(api)`` puts it into a :class:`FakeKubeAPI`. Also what the
cluster reports once a restart heals (``heal_pod``, ``roll_out``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.sim.cluster_objects import event, hpa, node, pvc, unreachable_taints
from orchestrator.sim.pods import JSON, REGISTRY, Age, cond, container, container_status, ts
from orchestrator.sim.workloads import cronjob, deployment, job, pod_for, replicaset, statefulset

if TYPE_CHECKING:
    from tests.fakes.kube_api import FakeKubeAPI


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
                cond("AbleToScale", True, "ReadyForNewScale",
                      "recommended size matches current size"),
                cond("ScalingActive", True, "ValidMetricFound", "the HPA was able to "
                      "successfully calculate a replica count from cpu resource utilization "
                      "(percentage of request)"),
                cond("ScalingLimited", True, "TooManyReplicas",
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
            conditions=[cond("FailureTarget", True, reason, msg, 60, probe=True),
                        cond("Failed", True, reason, msg, 60, probe=True)])
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
