"""The router's enrichment, through the real kubernetes client against the fake API server.

Each test loads a scenario shaped like a real cluster's objects, sends the alert a Prometheus
rule would fire, and asserts on what the enriched event carries.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from orchestrator.errors import TransientError
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.functional.router_support import (
    alert,
    api_calls,
    context,
    fake_api,
    pod_alert,
    with_nodes,
)


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    yield from fake_api()


def test_crashlooping_pod(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    ctx = context(api, pod_alert(sc, container="app", cluster="prod-eu"))
    pod = sc["pod"]["metadata"]
    assert ctx.available and ctx.source == "kubeconfig" and ctx.cluster == "prod-eu"
    assert ctx.target is not None and (ctx.target.kind, ctx.target.uid) == ("Pod", pod["uid"])
    # Owner chain, nearest first, with uids from the objects themselves.
    assert [(o.kind, o.name) for o in ctx.owners] == [
        ("ReplicaSet", sc["replicaset"]["metadata"]["name"]), ("Deployment", "checkout")]
    assert ctx.owners[1].uid == sc["deployment"]["metadata"]["uid"]
    (info,) = ctx.pods
    (c,) = info.containers
    assert (c.state, c.reason, c.restart_count) == ("waiting", "CrashLoopBackOff", 7)
    assert (c.last_state, c.last_reason, c.last_exit_code) == ("terminated", "Error", 1)
    assert c.requests == {"cpu": "100m", "memory": "128Mi"}
    assert info.node == "node-1" and not info.ready and info.owner is not None
    assert [n.ref.name for n in ctx.nodes] == ["node-1"] and ctx.nodes[0].ready == "True"
    # The previous instance's log holds the crash; a waiting container has no current log.
    (logs,) = ctx.logs
    assert logs.previous and logs.container == "app"
    assert logs.lines[-1] == "KeyError: 'DATABASE_URL'"
    # Events: newest first, folded, of the pod and its owners.
    assert ctx.events[0].reason == "BackOff" and ctx.events[0].count == 42
    assert {e.object.split("/")[0] for e in ctx.events} == {"Pod", "Deployment"}
    stamps = [e.last_seen for e in ctx.events]
    assert stamps == sorted(stamps, reverse=True)
    # Revision history: the new ReplicaSet (20 min old) and the one a rollback would restore.
    deploy = next(w for w in ctx.workloads if w.ref.kind == "Deployment")
    assert [r.revision for r in deploy.revisions] == [2, 1]
    assert deploy.revisions[1].images == ["registry.example.com/shop/checkout:1.4.1"]
    assert deploy.available_replicas == 0 and deploy.desired_replicas == 1
    assert any(c.reason == "ProgressDeadlineExceeded" for c in deploy.conditions)
    assert ctx.errors == [] and ctx.cut == []


def test_a_pod_alert_costs_a_bounded_number_of_calls(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    context(api, pod_alert(sc))
    calls = api_calls(api)
    # pod, its events, HPAs, node, previous log; ReplicaSet + events; Deployment + events;
    # ReplicaSets (revisions).
    assert len(calls) == 10, calls
    assert len(set(calls)) == len(calls)  # nothing read twice
    assert all(c.startswith("GET ") for c in calls)  # reads only


def test_independent_reads_run_concurrently(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    api.delay(r".", 0.25)
    started = time.monotonic()
    context(api, pod_alert(sc))
    elapsed = time.monotonic() - started
    calls = len(api.requests)
    # Sequential reads would take calls x 0.25 s (2.5 s); the chain pod → ReplicaSet →
    # Deployment → revisions is four round trips (1 s).
    assert calls == 10
    assert 1.0 <= elapsed < calls * 0.25 * 0.7, elapsed


def test_oomkilled_container(api: FakeKubeAPI) -> None:
    sc = ko.oomkilled_pod(memory_limit="256Mi").load(api)
    with_nodes(api)
    ctx = context(api, pod_alert(sc))
    (c,) = ctx.pods[0].containers
    assert (c.state, c.last_reason, c.last_exit_code, c.restart_count) == (
        "running", "OOMKilled", 137, 3)
    assert c.limits == {"memory": "256Mi"}
    # Previous instance first (it was killed), then the running one.
    assert [(t.previous, t.lines[-1]) for t in ctx.logs] == [
        (True, "INFO  cached 750000 products"), (False, "INFO  warming product cache")]


def test_image_pull_backoff_reads_no_logs(api: FakeKubeAPI) -> None:
    sc = ko.image_pull_backoff().load(api)
    with_nodes(api)
    ctx = context(api, pod_alert(sc))
    (c,) = ctx.pods[0].containers
    assert (c.state, c.reason) == ("waiting", "ImagePullBackOff")
    assert c.message is not None and "2.31" in c.message
    assert ctx.logs == [] and not api.find_requests(path="/log$")
    assert any("ErrImagePull" in e.message for e in ctx.events)
    deploy = next(w for w in ctx.workloads if w.ref.kind == "Deployment")
    assert [r.images[0].rsplit(":", 1)[1] for r in deploy.revisions] == ["2.31", "2.3.0"]


def test_unschedulable_pending_pod(api: FakeKubeAPI) -> None:
    sc = ko.pending_unschedulable_pod().load(api)
    ctx = context(api, pod_alert(sc))
    pod = ctx.pods[0]
    assert pod.phase == "Pending" and pod.node is None
    sched = next(c for c in pod.conditions if c.type == "PodScheduled")
    assert (sched.status, sched.reason) == ("False", "Unschedulable")
    assert sched.message == "0/3 nodes are available: 3 Insufficient cpu."
    assert ctx.pods[0].containers[0].requests == {"cpu": "6", "memory": "8Gi"}
    assert [(e.reason, e.count) for e in ctx.events if e.object.startswith("Pod/")] == [
        ("FailedScheduling", 15)]
    assert ctx.logs == [] and ctx.nodes == [] and ctx.errors == []


def test_notready_node(api: FakeKubeAPI) -> None:
    sc = ko.notready_node().load(api)
    ctx = context(api, alert({"node": "worker-7", "alertname": "KubeNodeNotReady"}))
    assert ctx.target is not None and ctx.target.kind == "Node"
    (node,) = ctx.nodes
    assert node.ready == "Unknown"
    assert node.taints == ["node.kubernetes.io/unreachable:NoSchedule",
                           "node.kubernetes.io/unreachable:NoExecute"]
    assert node.allocatable["cpu"] == "4" and node.pods == [
        f"shop/{sc['pod']['metadata']['name']}"]
    assert [p.ref.name for p in ctx.pods] == [sc["pod"]["metadata"]["name"]]
    assert ctx.owners == [] and ctx.logs == []
    assert ctx.events[0].reason == "NodeNotReady"


def test_instance_label_maps_to_a_node_by_address(api: FakeKubeAPI) -> None:
    ko.notready_node().load(api)
    ctx = context(api, alert({"instance": "10.0.0.77:9100", "job": "node-exporter"}))
    assert ctx.target is not None and (ctx.target.kind, ctx.target.name) == ("Node", "worker-7")
    assert ctx.errors == []


def test_pvc_near_full(api: FakeKubeAPI) -> None:
    sc = ko.pvc_near_full().load(api)
    with_nodes(api)
    ctx = context(api, alert({"namespace": "data", "persistentvolumeclaim": "data-postgres-0"}))
    (pvc,) = ctx.pvcs
    assert (pvc.phase, pvc.capacity, pvc.storage_class) == ("Bound", "10Gi", "standard")
    assert [p.ref.name for p in ctx.pods] == [sc["pod"]["metadata"]["name"]]
    # The StatefulSet behind the pod is context, not the PVC's owner.
    assert ctx.owners == [] and [w.ref.kind for w in ctx.workloads] == ["StatefulSet"]
    assert ctx.logs and "checkpoint" in ctx.logs[0].lines[0]


def test_hpa_at_max(api: FakeKubeAPI) -> None:
    ko.hpa_at_max(max_replicas=5).load(api)
    ctx = context(api, alert({"namespace": "shop", "horizontalpodautoscaler": "search"}))
    (hpa,) = ctx.hpas
    assert (hpa.current_replicas, hpa.max_replicas, hpa.min_replicas) == (5, 5, 2)
    assert hpa.scale_target is not None and hpa.scale_target.name == "search"
    assert any(c.type == "ScalingLimited" and c.status == "True" for c in hpa.conditions)
    (deploy,) = ctx.workloads
    assert deploy.managed_by == ["hpa"]


def test_pod_of_an_autoscaled_deployment_knows_its_hpa(api: FakeKubeAPI) -> None:
    sc = ko.hpa_at_max().load(api)
    with_nodes(api)
    ctx = context(api, alert({"namespace": "shop", "pod": sc["pods"][0]["metadata"]["name"]}))
    assert [h.ref.name for h in ctx.hpas] == ["search"]
    deploy = next(w for w in ctx.workloads if w.ref.kind == "Deployment")
    assert "hpa" in deploy.managed_by


def test_failed_job_of_a_cronjob(api: FakeKubeAPI) -> None:
    sc = ko.failed_job(backoff_limit=3).load(api)
    with_nodes(api)
    name = sc["job"]["metadata"]["name"]
    ctx = context(api, alert({"namespace": "batch", "job_name": name,
                              "job": "kube-state-metrics"}))
    (job,) = ctx.jobs
    assert (job.failed, job.backoff_limit, job.succeeded) == (4, 3, 0)
    assert job.owner is not None and job.owner.kind == "CronJob"
    assert len(job.failed_pods) == 4 and job.failed_pods[0] == sc["pod"]["metadata"]["name"]
    assert any(c.type == "Failed" and c.reason == "BackoffLimitExceeded" for c in job.conditions)
    assert [(o.kind, o.name) for o in ctx.owners] == [("CronJob", "nightly-report")]
    assert ctx.cronjobs[0].jobs == [name]
    # The newest failed pod's log says why.
    assert ctx.logs[0].pod == sc["pod"]["metadata"]["name"]
    assert "UndefinedTable" in ctx.logs[0].lines[-1]


def test_deployment_alert_describes_its_worst_pod(api: FakeKubeAPI) -> None:
    sc = ko.image_pull_backoff().load(api)
    with_nodes(api)
    ctx = context(api, alert({"namespace": "shop", "deployment": "frontend"}))
    assert ctx.target is not None and ctx.target.kind == "Deployment" and ctx.owners == []
    assert ctx.pods[0].ref.name == sc["pod"]["metadata"]["name"]  # the failing one first
    assert len(ctx.pods) == 3


def test_deleted_pod_is_recorded_and_its_owners_are_still_read(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    api.remove("Pod", "shop", sc["pod"]["metadata"]["name"])
    ctx = context(api, pod_alert(sc))
    assert any(e.startswith("get Pod shop/") and "404 NotFound" in e for e in ctx.errors)
    assert ctx.target is not None and ctx.target.uid is None  # as the labels say
    assert [o.kind for o in ctx.owners] == ["ReplicaSet", "Deployment"]
    assert ctx.pods == [] and any(w.ref.kind == "Deployment" for w in ctx.workloads)
    assert any(e.reason == "BackOff" for e in ctx.events)  # Events outlive the pod
    assert any("owners guessed from its name" in c for c in ctx.cut)


def test_forbidden_read_is_recorded_and_the_rest_goes_on(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    api.fail("GET", r"/events$", 403, message='events is forbidden: User '
             '"system:serviceaccount:io:router" cannot list resource "events"')
    ctx = context(api, pod_alert(sc))
    assert ctx.events == []
    assert len([e for e in ctx.errors if "403 Forbidden" in e]) == 3
    assert ctx.pods and ctx.logs and len(ctx.owners) == 2


def test_log_read_failing_on_the_kubelet_is_recorded_not_retried(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    api.fail("GET", r"/log$", 500, message="Get https://10.0.0.11:10250/containerLogs: "
             "dial tcp 10.0.0.11:10250: i/o timeout")
    ctx = context(api, pod_alert(sc))
    assert ctx.logs == [] and any("10250" in e for e in ctx.errors)
    assert ctx.pods


def test_api_server_error_is_transient(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    api.fail("GET", r"/pods/", 500)
    with pytest.raises(TransientError) as err:
        context(api, pod_alert(sc))
    assert "500" in str(err.value) and err.value.status == 503


def test_unreachable_api_is_transient(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    api.down()
    with pytest.raises(TransientError) as err:
        context(api, pod_alert(sc), request_timeout_seconds=2)
    assert "unreachable" in str(err.value)


def test_env_is_names_and_sources_and_last_applied_is_dropped(api: FakeKubeAPI) -> None:
    ctr = ko.container(env={"LOG_LEVEL": "debug", "DB_PASSWORD": "literal-Secret-Value-1"})
    ctr["env"] += [
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    ctr["envFrom"] = [{"secretRef": {"name": "db-creds"}, "prefix": "DB_"}]
    last_applied = '{"spec":{"containers":[{"env":[{"value":"literal-Secret-Value-1"}]}]}}'
    api.add(ko.pod("web-0", "shop", containers=[ctr], annotations={
        "kubectl.kubernetes.io/last-applied-configuration": last_applied, "team": "web"}))
    with_nodes(api)
    enriched = context(api, alert({"namespace": "shop", "pod": "web-0"}))
    env = {(e.name, e.source, e.ref) for e in enriched.pods[0].containers[0].env}
    assert env == {("LOG_LEVEL", "literal", None), ("DB_PASSWORD", "literal", None),
                   ("API_TOKEN", "secret", "api/token"), ("MODE", "configmap", "cfg/mode"),
                   ("POD_IP", "field", "status.podIP"), ("DB_*", "secret", "db-creds")}
    assert enriched.pods[0].annotations == {"team": "web"}
    assert "literal-Secret-Value-1" not in enriched.model_dump_json()


def test_gitops_and_helm_management_is_detected(api: FakeKubeAPI) -> None:
    d = ko.deployment("api", "shop", labels={"app": "api", "app.kubernetes.io/managed-by": "Helm"})
    d["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] = "shop:apps/Deployment:shop/api"
    d["metadata"]["managedFields"] = [{"manager": "kustomize-controller", "operation": "Apply"}]
    api.add(d)
    ctx = context(api, alert({"namespace": "shop", "deployment": "api"}))
    assert ctx.workloads[0].managed_by == ["argocd", "flux", "helm"]


def test_exporter_labels_do_not_become_targets(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    ctx = context(api, pod_alert(sc, service="kube-state-metrics", job="kube-state-metrics",
                                 instance="10.42.3.17:8080"))
    assert ctx.target is not None and ctx.target.kind == "Pod"
    assert not api.find_requests(path="/services/")


def test_service_alert_reads_the_pods_behind_it(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    api.add({"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "checkout", "namespace": "shop"},
             "spec": {"type": "ClusterIP", "selector": {"app": "checkout"},
                      "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                 "protocol": "TCP"}]}})
    ctx = context(api, alert({"namespace": "shop", "service": "checkout", "job": "checkout"}))
    (svc,) = ctx.services
    assert svc.pods == [sc["pod"]["metadata"]["name"]] and svc.ready_pods == 0
    assert svc.ports == ["http:80/TCP→8080"]
    assert ctx.logs and ctx.logs[0].previous


def test_a_cronjob_lists_its_own_jobs_newest_first(api: FakeKubeAPI) -> None:
    sc = ko.failed_job().load(api)
    with_nodes(api)
    cj = api.get("CronJob", "batch", "nightly-report")
    api.add(ko.job("nightly-report-older", "batch", owner=cj, succeeded=1, age=90000))
    api.add(ko.job("adhoc-backfill", "batch", succeeded=1, age=60))  # not the CronJob's
    ctx = context(api, alert({"namespace": "batch", "cronjob": "nightly-report"}))
    assert ctx.cronjobs[0].jobs == [sc["job"]["metadata"]["name"], "nightly-report-older"]
