"""The fake kube-apiserver with the real kubernetes client (v36): reads, selectors, logs,
discovery."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.kube_selectors import parse_label_selector
from tests.unit.fake_kube_api.support import status_body

# ---- reads ---------------------------------------------------------------------------------


def test_read_list_and_selectors(api: FakeKubeAPI, core: client.CoreV1Api,
                                 crashloop: ko.Scenario) -> None:
    ko.oomkilled_pod().load(api)
    pod_name = crashloop["pod"]["metadata"]["name"]
    pod = core.read_namespaced_pod(pod_name, "shop")
    assert pod.metadata.uid == crashloop["pod"]["metadata"]["uid"]
    assert int(pod.metadata.resource_version) > 0
    cs = pod.status.container_statuses[0]
    assert cs.state.waiting.reason == "CrashLoopBackOff" and cs.restart_count == 7
    assert cs.last_state.terminated.reason == "Error" and cs.last_state.terminated.exit_code == 1

    def names(**kw: Any) -> set[str]:
        return {p.metadata.name for p in core.list_namespaced_pod("shop", **kw).items}

    cart = api.objects("Pod", "shop")
    assert len(cart) == 2
    assert names(label_selector="app=checkout") == {pod_name}
    assert names(label_selector="app in (checkout,cart)") == {p["metadata"]["name"] for p in cart}
    assert names(label_selector="app!=checkout,pod-template-hash") != set()
    assert names(label_selector="!pod-template-hash") == set()
    assert names(field_selector=f"metadata.name={pod_name}") == {pod_name}
    assert names(field_selector="status.phase=Running,spec.nodeName=node-1") == \
        {p["metadata"]["name"] for p in cart}
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_pod("shop", field_selector="spec.bogus=x")
    assert exc.value.status == 400 and "field label not supported" in status_body(exc.value)[
        "message"]

    listing = core.list_pod_for_all_namespaces()
    assert int(listing.metadata.resource_version) == api.resource_version
    page = core.list_namespaced_pod("shop", limit=1)
    rest = core.list_namespaced_pod("shop", limit=1, _continue=page.metadata._continue)
    assert page.metadata.remaining_item_count == 1 and rest.metadata._continue is None
    assert {page.items[0].metadata.name, rest.items[0].metadata.name} == \
        {p["metadata"]["name"] for p in cart}

    events = core.list_namespaced_event(
        "shop", field_selector=f"involvedObject.name={pod_name},involvedObject.kind=Pod,"
                               "reason=BackOff")
    assert [(e.type, e.count) for e in events.items] == [("Warning", 42)]

    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod("nope", "shop")
    assert exc.value.status == 404
    assert status_body(exc.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "nope" not found', "reason": "NotFound",
        "details": {"name": "nope", "kind": "pods"}, "code": 404}


def test_owner_chain_and_other_groups(api: FakeKubeAPI, ac: Any, apps: client.AppsV1Api,
                                      crashloop: ko.Scenario) -> None:
    ko.load(api, ko.failed_job(), ko.hpa_at_max(), ko.pvc_near_full(), ko.notready_node(),
            ko.pending_unschedulable_pod(), ko.image_pull_backoff())
    pod = client.CoreV1Api(ac).read_namespaced_pod(crashloop["pod"]["metadata"]["name"], "shop")
    ref = pod.metadata.owner_references[0]
    assert (ref.kind, ref.controller) == ("ReplicaSet", True)
    rs = apps.read_namespaced_replica_set(ref.name, "shop")
    assert rs.metadata.uid == ref.uid
    assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert pod.metadata.labels["pod-template-hash"] == \
        rs.spec.selector.match_labels["pod-template-hash"]
    dep = apps.read_namespaced_deployment(rs.metadata.owner_references[0].name, "shop")
    assert dep.metadata.uid == rs.metadata.owner_references[0].uid

    batch = client.BatchV1Api(ac)
    job = batch.list_namespaced_job("batch").items[0]
    assert [c.reason for c in job.status.conditions if c.type == "Failed"] == \
        ["BackoffLimitExceeded"]
    assert job.metadata.owner_references[0].kind == "CronJob"
    assert batch.read_namespaced_cron_job("nightly-report", "batch").spec.schedule
    hpa = client.AutoscalingV2Api(ac).read_namespaced_horizontal_pod_autoscaler("search", "shop")
    assert hpa.status.current_replicas == hpa.spec.max_replicas
    assert any(c.type == "ScalingLimited" and c.status == "True" for c in hpa.status.conditions)
    core = client.CoreV1Api(ac)
    node = core.read_node("worker-7")
    assert [c.status for c in node.status.conditions if c.type == "Ready"] == ["Unknown"]
    assert {t.key for t in node.spec.taints} == {"node.kubernetes.io/unreachable"}
    assert len(core.list_node(label_selector="kubernetes.io/os=linux").items) == 4
    pending = core.list_namespaced_pod("analytics", field_selector="status.phase=Pending").items[0]
    assert pending.status.conditions[0].reason == "Unschedulable"
    assert core.list_namespaced_event("analytics").items[0].message == \
        "0/3 nodes are available: 3 Insufficient cpu."
    assert core.read_namespaced_persistent_volume_claim_status(
        "data-postgres-0", "data").status.capacity["storage"] == "10Gi"
    api.add_all([ko.pdb("web", "shop", match_labels={"app": "web"}), ko.namespace("shop"),
                 ko.lease("orchestrator", "shop", holder="pod-a"), ko.daemonset("node-agent")])
    assert client.PolicyV1Api(ac).read_namespaced_pod_disruption_budget(
        "web", "shop").status.disruptions_allowed == 1
    assert client.CoordinationV1Api(ac).read_namespaced_lease(
        "orchestrator", "shop").spec.holder_identity == "pod-a"
    assert apps.read_namespaced_daemon_set("node-agent", "kube-system").status.number_ready == 3
    assert core.read_namespace("shop").status.phase == "Active"


def test_every_scenario_object_deserializes(api: FakeKubeAPI, ac: Any) -> None:
    scenarios = ko.load(api, *(make() for make in ko.ALL_SCENARIOS))
    core, apps = client.CoreV1Api(ac), client.AppsV1Api(ac)
    batch, hpas = client.BatchV1Api(ac), client.AutoscalingV2Api(ac)
    listed = {
        "Pod": core.list_pod_for_all_namespaces, "Event": core.list_event_for_all_namespaces,
        "Node": core.list_node,
        "PersistentVolumeClaim": core.list_persistent_volume_claim_for_all_namespaces,
        "Deployment": apps.list_deployment_for_all_namespaces,
        "ReplicaSet": apps.list_replica_set_for_all_namespaces,
        "StatefulSet": apps.list_stateful_set_for_all_namespaces,
        "Job": batch.list_job_for_all_namespaces, "CronJob": batch.list_cron_job_for_all_namespaces,
        "HorizontalPodAutoscaler": hpas.list_horizontal_pod_autoscaler_for_all_namespaces,
    }
    expected: dict[str, set[str]] = {}
    for scenario in scenarios:
        for obj in scenario.objects:
            expected.setdefault(obj["kind"], set()).add(obj["metadata"]["uid"])
    assert set(expected) == set(listed)
    for kind, list_all in listed.items():  # client-side validation is on: a gap would raise
        assert {o.metadata.uid for o in list_all().items} == expected[kind], kind
    # consistency: every ownerReference points at a stored object with that uid
    uids = {uid for group in expected.values() for uid in group}
    for scenario in scenarios:
        for obj in scenario.objects:
            for ref in obj["metadata"].get("ownerReferences", []):
                assert ref["uid"] in uids and ref["controller"] is True


def test_logs_are_plain_text(api: FakeKubeAPI, core: client.CoreV1Api,
                             crashloop: ko.Scenario) -> None:
    name = crashloop["pod"]["metadata"]["name"]

    def logs(pod: str = name, ns: str = "shop", **kw: Any) -> str:
        # kubernetes 36.0.x returns str(bytes) ("b'...'") for text responses
        # (kubernetes-client/python#2596); read the raw body instead.
        resp = core.read_namespaced_pod_log(pod, ns, _preload_content=False, **kw)
        try:
            return resp.data.decode()
        finally:
            resp.release_conn()

    assert "KeyError: 'DATABASE_URL'" in logs(previous=True)
    req = api.find_requests("GET", r"/log$")[-1]
    assert req.query == {"previous": "True"}
    assert logs(container="app", tail_lines=1) == "KeyError: 'DATABASE_URL'\n"
    assert logs(limit_bytes=4) == "2024"

    api.set_logs("shop", name, "app", "line1\nline2\n")
    assert logs() == "line1\nline2\n"
    ok = ko.oomkilled_pod().load(api)
    with pytest.raises(ApiException) as exc:
        logs("missing")
    assert exc.value.status == 404
    pulled = ko.image_pull_backoff("web").load(api)["pod"]["metadata"]["name"]
    with pytest.raises(ApiException) as exc:
        logs(pulled, "web", previous=True)
    assert exc.value.status == 400
    assert status_body(exc.value)["message"] == \
        f'previous terminated container "app" in pod "{pulled}" not found'
    with pytest.raises(ApiException) as exc:
        logs(pulled, "web")
    assert status_body(exc.value)["message"] == \
        f'container "app" in pod "{pulled}" is waiting to start: trying and failing to pull image'
    with pytest.raises(ApiException) as exc:
        logs(ok["pod"]["metadata"]["name"], container="sidecar")
    assert exc.value.status == 400 and "is not valid for pod" in status_body(exc.value)["message"]


def test_discovery_unsupported_and_kubeconfig(api: FakeKubeAPI, ac: Any, tmp_path: Any) -> None:
    assert client.VersionApi(ac).get_code().git_version.startswith("v1.")
    assert client.CoreApi(ac).get_api_versions().versions == ["v1"]
    groups = {g.name: g.preferred_version.group_version
              for g in client.ApisApi(ac).get_api_versions().groups}
    assert groups["autoscaling"] == "autoscaling/v2" and groups["apps"] == "apps/v1"
    resources = {r.name for r in client.CoreV1Api(ac).get_api_resources().resources}
    assert {"pods", "pods/log", "pods/eviction", "events", "nodes"} <= resources

    http = urllib3.PoolManager()
    try:
        for method, path, code in [("GET", "/api/v1/namespaces/x/widgets", 404),
                                   ("PUT", "/api/v1/namespaces/x/pods", 405),
                                   ("POST", "/api/v1/pods", 405),
                                   ("GET", "/apis/apps/v1/namespaces/x/deployments/y/exec", 404)]:
            resp = http.request(method, api.url + path, body=b"{}")
            assert resp.status == code and json.loads(resp.data)["code"] == code
        api.add(ko.pod("p", "x"))
        resp = http.request("PATCH", api.url + "/api/v1/namespaces/x/pods/p", body=b"{}",
                            headers={"Content-Type": "application/apply-patch+yaml"})
        assert resp.status == 415
    finally:
        http.clear()

    path = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
    kube_client = config.new_client_from_config(config_file=path)
    try:
        pods = client.CoreV1Api(kube_client).list_namespaced_pod("x").items
        assert [p.metadata.name for p in pods] == ["p"]
        assert api.requests[-1].headers["authorization"] == "Bearer fake-token"
    finally:
        kube_client.close()
        kube_client.rest_client.pool_manager.clear()


# ---- pure helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ("a=b", {"a": "b"}, True),
    ("a==b,c", {"a": "b"}, False),
    ("a!=b", {}, True),
    ("a in (x, y),!z", {"a": "y"}, True),
    ("a notin (x,y)", {"a": "x"}, False),
])
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(selector)(labels) is expected
