"""The simulated cluster's controllers, driven through the real kubernetes client: a rollout
restart makes a new ReplicaSet revision, a rollback revives the old one as the newest, an
eviction is replaced, a restart does not cure an OOM, a failed Job is retried until its
backoff limit, a cordoned node receives no new pods, an HPA follows its target."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from orchestrator.sim.scenario import Scenario, SimCluster
from tests.fakes.serving import wait_until

REG = "registry.example.com/shop"


def _scenario(fault: dict[str, Any], *, replicas: int = 3, revisions: list[dict[str, Any]]
              | None = None, **cluster: Any) -> Scenario:
    revisions = revisions or [{"image": f"{REG}/web:1.0", "age_minutes": 5000}]
    return Scenario.model_validate({
        "name": "t", "family": "t", "description": "t",
        "cluster": {"workloads": [{"name": "web", "replicas": replicas,
                                   "revisions": revisions}], **cluster},
        "fault": fault, "alert": {"name": "KubePodCrashLooping"},
        "expect": {"runbook": None}})


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[SimCluster]:
    with SimCluster(request.param) as running:
        yield running
        assert running.controllers.errors == []
        assert running.api.server_errors == []


@pytest.fixture
def apis(sim: SimCluster) -> Iterator[tuple[client.CoreV1Api, client.AppsV1Api, Any]]:
    cfg = client.Configuration()
    cfg.host = sim.api.url
    api_client = client.ApiClient(cfg)
    try:
        yield client.CoreV1Api(api_client), client.AppsV1Api(api_client), api_client
    finally:
        api_client.close()


def _ready(sim: SimCluster) -> int:
    return int((sim.api.get("Deployment", "shop", "web") or {}).get("status", {}).get(
        "readyReplicas") or 0)


def _restart(apps: client.AppsV1Api) -> None:
    now = dt.datetime.now(dt.UTC).isoformat()
    apps.patch_namespaced_deployment("web", "shop", {"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}})


def _revisions(sim: SimCluster) -> dict[str, tuple[str, int]]:
    return {rs["metadata"]["name"]: (rs["metadata"]["annotations"][
        "deployment.kubernetes.io/revision"], rs["spec"]["replicas"])
        for rs in sim.api.objects("ReplicaSet", "shop")}


CRASH_UNTIL_REPLACED = _scenario({"kind": "crash", "until_replaced": True})


@pytest.mark.parametrize("sim", [CRASH_UNTIL_REPLACED], indirect=True)
def test_a_rollout_restart_makes_a_new_revision_whose_pods_replace_the_sick_ones(
        sim: SimCluster, apis: Any) -> None:
    core, apps, _ = apis
    assert _ready(sim) == 0
    before = {p.metadata.name for p in core.list_namespaced_pod("shop").items}
    _restart(apps)
    wait_until(lambda: _ready(sim) == 3)
    after = {p.metadata.name for p in core.list_namespaced_pod("shop").items}
    assert not before & after and len(after) == 3
    revs = sorted(_revisions(sim).values())
    assert revs == [("1", 0), ("2", 3)]
    d = apps.read_namespaced_deployment("web", "shop")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert d.status.observed_generation == d.metadata.generation
    assert d.status.updated_replicas == d.status.available_replicas == 3


BAD_IMAGE = _scenario({"kind": "crash", "image": f"{REG}/web:2.0"}, revisions=[
    {"image": f"{REG}/web:1.0", "age_minutes": 5000},
    {"image": f"{REG}/web:2.0", "age_minutes": 10}])


@pytest.mark.parametrize("sim", [BAD_IMAGE], indirect=True)
def test_a_rollback_revives_the_old_replicaset_as_the_newest_revision(
        sim: SimCluster, apis: Any) -> None:
    _, apps, _ = apis
    _restart(apps)  # a restart keeps the bad image: still nothing ready
    wait_until(lambda: ("3", 3) in _revisions(sim).values())
    assert _ready(sim) == 0
    old = next(rs for rs in sim.api.objects("ReplicaSet", "shop")
               if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1")
    template = old["spec"]["template"]
    del template["metadata"]["labels"]["pod-template-hash"]
    apps.patch_namespaced_deployment("web", "shop", [
        {"op": "replace", "path": "/spec/template", "value": template}])
    wait_until(lambda: _ready(sim) == 3)
    revs = _revisions(sim)
    assert revs[old["metadata"]["name"]] == ("4", 3)
    assert sorted(v for k, v in revs.items() if k != old["metadata"]["name"]) == [
        ("2", 0), ("3", 0)]


@pytest.mark.parametrize("sim", [CRASH_UNTIL_REPLACED], indirect=True)
def test_an_evicted_pod_is_replaced(sim: SimCluster, apis: Any) -> None:
    core, _, _ = apis
    pods = core.list_namespaced_pod("shop").items
    victim = pods[0].metadata.name
    core.create_namespaced_pod_eviction(victim, "shop", client.V1Eviction(
        metadata=client.V1ObjectMeta(name=victim, namespace="shop")))

    def replaced() -> bool:
        names = {p["metadata"]["name"] for p in sim.api.objects("Pod", "shop")}
        return victim not in names and len(names) == 3
    wait_until(replaced)
    assert wait_until(lambda: _ready(sim) == 1)  # only the replacement is healthy


OOM = _scenario({"kind": "oom", "memory_below": "1Gi"}, replicas=2)


@pytest.mark.parametrize("sim", [OOM], indirect=True)
def test_a_restart_does_not_cure_an_oom(sim: SimCluster, apis: Any) -> None:
    core, apps, _ = apis
    _restart(apps)
    wait_until(lambda: ("2", 2) in _revisions(sim).values()
               and len(sim.api.objects("Pod", "shop")) == 2
               and all(p["metadata"]["labels"]["pod-template-hash"] in
                       [rs["metadata"]["labels"]["pod-template-hash"] for rs in
                        sim.api.objects("ReplicaSet", "shop")
                        if rs["spec"]["replicas"] == 2]
                       for p in sim.api.objects("Pod", "shop")))
    assert _ready(sim) == 0
    last = core.list_namespaced_pod("shop").items[0].status.container_statuses[0]
    assert last.last_state.terminated.reason == "OOMKilled"


JOB = Scenario.model_validate({
    "name": "j", "family": "t", "description": "t", "cluster": {
        "namespace": "batch", "jobs": [{"name": "report-1", "cronjob": "report",
                                        "backoff_limit": 2}]},
    "fault": {"kind": "job_fails"}, "alert": {"name": "KubeJobFailed", "target": "job"},
    "expect": {"runbook": None}})


@pytest.mark.parametrize("sim", [JOB], indirect=True)
def test_a_failing_job_is_retried_until_its_backoff_limit(sim: SimCluster) -> None:
    job = sim.api.get("Job", "batch", "report-1")
    assert job is not None
    st = job["status"]
    assert st["failed"] == 3 and st["active"] == 0  # backoffLimit 2: three tries
    assert [(c["type"], c["reason"]) for c in st["conditions"]] == [
        ("Failed", "BackoffLimitExceeded")]
    assert len(sim.api.objects("Pod", "batch")) == 3


CORDON = _scenario({"kind": "crash", "until_replaced": True}, replicas=1,
                   nodes=[{"name": "worker-1"}, {"name": "worker-2"}])


@pytest.mark.parametrize("sim", [CORDON], indirect=True)
def test_new_pods_avoid_a_cordoned_node_and_a_not_ready_one(sim: SimCluster, apis: Any) -> None:
    core, apps, _ = apis
    (first,) = core.list_namespaced_pod("shop").items
    assert first.spec.node_name == "worker-1"
    core.patch_node("worker-1", {"spec": {"unschedulable": True}})
    _restart(apps)
    wait_until(lambda: _ready(sim) == 1)
    (moved,) = core.list_namespaced_pod("shop").items
    assert moved.spec.node_name == "worker-2"
    core.patch_node("worker-2", {"spec": {"unschedulable": True}})
    _restart(apps)
    wait_until(lambda: any(p["status"]["phase"] == "Pending"
                           for p in sim.api.objects("Pod", "shop")))
    events = [e["reason"] for e in sim.api.objects("Event", "shop")]
    assert "FailedScheduling" in events


HPA = Scenario.model_validate({
    "name": "h", "family": "t", "description": "t", "cluster": {"workloads": [{
        "name": "web", "replicas": 2, "hpa_max": 4,
        "revisions": [{"image": f"{REG}/web:1.0", "age_minutes": 5000}]}]},
    "alert": {"name": "KubeHpaMaxedOut", "target": "workload"}, "expect": {"runbook": None}})


@pytest.mark.parametrize("sim", [HPA], indirect=True)
def test_an_hpa_follows_its_target_and_pods_follow_a_scale(sim: SimCluster, apis: Any) -> None:
    _, apps, _ = apis
    apps.patch_namespaced_deployment_scale("web", "shop", {"spec": {"replicas": 4}})
    wait_until(lambda: _ready(sim) == 4)
    hpa = sim.api.get("HorizontalPodAutoscaler", "shop", "web")
    assert hpa is not None and hpa["status"]["currentReplicas"] == 4


STUCK = _scenario({"kind": "image_pull", "image": f"{REG}/web:1.1",
                   "progress_deadline_exceeded": True},
                  revisions=[{"image": f"{REG}/web:1.0", "age_minutes": 5000},
                             {"image": f"{REG}/web:1.1", "age_minutes": 20}])


@pytest.mark.parametrize("sim", [STUCK], indirect=True)
def test_a_fault_past_its_progress_deadline_says_so_on_the_deployment(sim: SimCluster) -> None:
    status = (sim.api.get("Deployment", "shop", "web") or {}).get("status", {})
    progressing = {c["type"]: c for c in status.get("conditions", [])}["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
