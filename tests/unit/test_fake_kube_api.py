"""The fake kube-apiserver, exercised with the real kubernetes client (v36)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI, wait_until
from tests.fakes.kube_patch import (
    ApiError,
    json_patch,
    parse_label_selector,
    strategic_merge_patch,
)


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as fake:
        yield fake
        assert fake.server_errors == []


@pytest.fixture
def ac(api: FakeKubeAPI) -> Any:
    return api.api_client()


@pytest.fixture
def core(ac: Any) -> client.CoreV1Api:
    return client.CoreV1Api(ac)


@pytest.fixture
def apps(ac: Any) -> client.AppsV1Api:
    return client.AppsV1Api(ac)


@pytest.fixture
def crashloop(api: FakeKubeAPI) -> ko.Scenario:
    return ko.crashlooping_deployment().load(api)


def status_body(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def eviction(name: str, ns: str, **delete_options: Any) -> client.V1Eviction:
    return client.V1Eviction(
        api_version="policy/v1", kind="Eviction",
        metadata=client.V1ObjectMeta(name=name, namespace=ns),
        delete_options=client.V1DeleteOptions(**delete_options) if delete_options else None)


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


# ---- evictions -----------------------------------------------------------------------------


def test_eviction_without_pdb_deletes_pod(api: FakeKubeAPI, core: client.CoreV1Api,
                                          crashloop: ko.Scenario) -> None:
    name = crashloop["pod"]["metadata"]["name"]
    core.create_namespaced_pod_eviction(name, "shop", eviction(
        name, "shop", grace_period_seconds=30,
        preconditions=client.V1Preconditions(uid=crashloop["pod"]["metadata"]["uid"])))
    req = api.find_requests("POST", r"/eviction$")[-1]
    assert req.body == {"apiVersion": "policy/v1", "kind": "Eviction",
                        "metadata": {"name": name, "namespace": "shop"},
                        "deleteOptions": {"gracePeriodSeconds": 30, "preconditions": {
                            "uid": crashloop["pod"]["metadata"]["uid"]}}}
    assert api.get("Pod", "shop", name) is None
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod_eviction(name, "shop", eviction(name, "shop"))
    assert exc.value.status == 404


def test_eviction_blocked_by_pdb(api: FakeKubeAPI, core: client.CoreV1Api) -> None:
    scenario = ko.hpa_at_max(max_replicas=2).load(api)
    first, second = (p["metadata"]["name"] for p in scenario["pods"])
    api.add(ko.pdb("search", "shop", match_labels={"app": "search"}, min_available=1,
                   expected_pods=2))
    rv = api.resource_version
    core.create_namespaced_pod_eviction(first, "shop", eviction(first, "shop"), dry_run="All")
    assert api.resource_version == rv and api.get("Pod", "shop", first) is not None
    assert api.find_requests("POST", "eviction")[-1].dry_run
    core.create_namespaced_pod_eviction(first, "shop", eviction(first, "shop"))
    assert api.get("PodDisruptionBudget", "shop", "search")["status"]["disruptionsAllowed"] == 0
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod_eviction(second, "shop", eviction(second, "shop"))
    assert exc.value.status == 429
    body = status_body(exc.value)
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert api.get("Pod", "shop", second) is not None


# ---- writes --------------------------------------------------------------------------------


def test_rollout_restart_patch_and_conflicts(api: FakeKubeAPI, apps: client.AppsV1Api,
                                             crashloop: ko.Scenario) -> None:
    before = api.get("Deployment", "shop", "checkout")
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}}}}
    out = apps.patch_namespaced_deployment("checkout", "shop", patch)
    req = api.requests[-1]
    assert (req.method, req.content_type, req.body) == \
        ("PATCH", "application/strategic-merge-patch+json", patch)
    assert out.spec.template.metadata.annotations == {
        "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}
    assert out.metadata.generation == before["metadata"]["generation"] + 1
    assert out.spec.template.spec.containers[0].image == \
        before["spec"]["template"]["spec"]["containers"][0]["image"]
    assert out.status.ready_replicas == 0  # status is not writable through the main resource

    # strategic merge: containers merge by name
    out = apps.patch_namespaced_deployment("checkout", "shop", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "registry.example.com/shop/checkout:1.4.1"}]}}}})
    ctr = out.spec.template.spec.containers[0]
    assert (ctr.image, ctr.resources.requests) == (
        "registry.example.com/shop/checkout:1.4.1", {"cpu": "100m", "memory": "128Mi"})

    stale = before["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("checkout", "shop", {
            "metadata": {"resourceVersion": stale}, "spec": {"replicas": 0}})
    assert exc.value.status == 409 and status_body(exc.value)["reason"] == "Conflict"
    assert api.get("Deployment", "shop", "checkout")["spec"]["replicas"] == 1

    with pytest.raises(ApiException) as exc:  # RFC 6902 test op
        apps.patch_namespaced_deployment("checkout", "shop", [
            {"op": "test", "path": "/spec/replicas", "value": 5},
            {"op": "replace", "path": "/spec/replicas", "value": 0}])
    assert exc.value.status == 422
    assert api.requests[-1].content_type == "application/json-patch+json"
    apps.patch_namespaced_deployment("checkout", "shop", {"metadata": {"labels": None}},
                                     _content_type="application/merge-patch+json")
    assert "labels" not in api.get("Deployment", "shop", "checkout")["metadata"]

    scale = apps.patch_namespaced_deployment_scale("checkout", "shop", {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3
    assert api.get("Deployment", "shop", "checkout")["spec"]["replicas"] == 3

    dep = apps.read_namespaced_deployment("checkout", "shop")
    dep.metadata.resource_version = stale
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("checkout", "shop", dep)
    assert exc.value.status == 409


def test_dry_run_all_changes_nothing(api: FakeKubeAPI, core: client.CoreV1Api,
                                     apps: client.AppsV1Api, crashloop: ko.Scenario) -> None:
    name = crashloop["pod"]["metadata"]["name"]
    rv, snapshot = api.resource_version, api.get("Deployment", "shop", "checkout")
    out = apps.patch_namespaced_deployment("checkout", "shop", {"spec": {"replicas": 0}},
                                           dry_run="All")
    assert out.spec.replicas == 0
    core.delete_namespaced_pod(name, "shop", dry_run="All")
    created = core.create_namespaced_pod("shop", {"metadata": {"name": "new"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}}, dry_run="All")
    assert created.metadata.uid and not created.metadata.resource_version
    assert api.resource_version == rv
    assert api.get("Deployment", "shop", "checkout") == snapshot
    assert api.get("Pod", "shop", name) is not None and api.get("Pod", "shop", "new") is None
    writes = [r for r in api.requests if r.method != "GET"]
    assert [r.query.get("dryRun") for r in writes] == ["All"] * 3
    assert all(r.dry_run for r in writes)


def test_delete_preconditions_and_cascade(api: FakeKubeAPI, core: client.CoreV1Api,
                                          apps: client.AppsV1Api, crashloop: ko.Scenario) -> None:
    pod = crashloop["pod"]
    name = pod["metadata"]["name"]
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_pod(name, "shop", body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid="00000000-0000-0000-0000-000000000000")))
    assert exc.value.status == 409
    assert status_body(exc.value)["message"].startswith("Precondition failed: UID in precondition")
    assert api.find_requests("DELETE")[-1].body == {
        "preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}}
    deleted = core.delete_namespaced_pod(name, "shop", body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(uid=pod["metadata"]["uid"])))
    assert deleted.metadata.deletion_timestamp is not None  # real servers answer with the pod
    assert api.get("Pod", "shop", name) is None

    status = apps.delete_namespaced_deployment("checkout", "shop",
                                               propagation_policy="Foreground")
    assert status.status == "Success" and status.details.kind == "deployments"
    assert api.objects("ReplicaSet", "shop") == []  # dependents cascade (synchronously)


def test_create_events_and_leases(api: FakeKubeAPI, ac: Any, core: client.CoreV1Api) -> None:
    body = {"metadata": {"generateName": "orchestrator-"}, "involvedObject": {
        "kind": "Pod", "name": "web-1", "namespace": "shop"}, "reason": "Remediated",
        "message": "evicted web-1", "type": "Normal", "source": {"component": "orchestrator"}}
    ev = core.create_namespaced_event("shop", body)
    assert ev.metadata.name.startswith("orchestrator-") and len(ev.metadata.name) == 18
    assert api.find_requests("POST", r"/events$")[-1].body == body
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    assert core.create_namespaced_pod("shop", pod).status.phase == "Pending"
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod("shop", pod)
    assert (exc.value.status, status_body(exc.value)["reason"]) == (409, "AlreadyExists")

    coord = client.CoordinationV1Api(ac)
    lease = coord.create_namespaced_lease("shop", client.V1Lease(
        metadata=client.V1ObjectMeta(name="leader"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15)))
    lease.spec.holder_identity = "b"
    renewed = coord.replace_namespaced_lease("leader", "shop", lease)
    assert renewed.spec.holder_identity == "b"
    with pytest.raises(ApiException) as exc:  # lease is stale now: a competing writer loses
        coord.replace_namespaced_lease("leader", "shop", lease)
    assert exc.value.status == 409


# ---- watch ---------------------------------------------------------------------------------


def test_watch_sees_changes_from_other_threads(api: FakeKubeAPI, core: client.CoreV1Api,
                                               crashloop: ko.Scenario) -> None:
    name = crashloop["pod"]["metadata"]["name"]
    seen: list[tuple[str, str, str | None]] = []
    errors: list[BaseException] = []
    w = watch.Watch()

    def run() -> None:
        try:
            for ev in w.stream(core.list_namespaced_pod, namespace="shop",
                               label_selector="app=checkout", timeout_seconds=5):
                seen.append((ev["type"], ev["object"].metadata.name,
                             (ev["object"].metadata.labels or {}).get("app")))
                if ev["type"] == "DELETED":
                    w.stop()
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    api.wait_for_watchers(1)
    api.mutate("Pod", "shop", name, lambda p: p["metadata"]["labels"].update(tier="web"))
    patcher = threading.Thread(target=lambda: core.patch_namespaced_pod(
        name, "shop", {"metadata": {"labels": {"app": "moved"}}}))
    patcher.start()
    patcher.join(5)
    t.join(5)
    assert not t.is_alive() and errors == []
    # leaving the selector is a DELETED for this watcher, like a real apiserver
    assert seen == [("ADDED", name, "checkout"), ("MODIFIED", name, "checkout"),
                    ("DELETED", name, "moved")]


def test_watch_times_out_cleanly_and_resumes(api: FakeKubeAPI, core: client.CoreV1Api,
                                             crashloop: ko.Scenario) -> None:
    start = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_pod, namespace="shop",
                                       timeout_seconds=1))
    assert 0.9 < time.monotonic() - start < 3
    assert [e["type"] for e in events] == ["ADDED"]
    rv = events[0]["object"].metadata.resource_version
    core.delete_namespaced_pod(crashloop["pod"]["metadata"]["name"], "shop")
    replay = list(watch.Watch().stream(core.list_namespaced_pod, namespace="shop",
                                       resource_version=rv, timeout_seconds=1))
    assert [e["type"] for e in replay] == ["DELETED"]


# ---- faults --------------------------------------------------------------------------------


def test_fail_injection(api: FakeKubeAPI, core: client.CoreV1Api,
                        crashloop: ko.Scenario) -> None:
    name = crashloop["pod"]["metadata"]["name"]
    fault = api.fail("DELETE", r"/pods/", 403, times=1,
                     message=f'pods "{name}" is forbidden: User "system:serviceaccount:ops:'
                             'orchestrator" cannot delete resource "pods"')
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_pod(name, "shop")
    assert exc.value.status == 403 and status_body(exc.value)["reason"] == "Forbidden"
    assert fault.hits == 1 and api.requests[-1].injected_status == 403
    api.fail(None, r"^/api/v1/namespaces/shop/pods$", 500)
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_pod("shop")
    assert exc.value.status == 500 and status_body(exc.value)["reason"] == "InternalError"
    api.clear_faults()
    core.delete_namespaced_pod(name, "shop")
    assert api.get("Pod", "shop", name) is None


def test_down_up_and_hanging_api(api: FakeKubeAPI, core: client.CoreV1Api,
                                 crashloop: ko.Scenario) -> None:
    name = crashloop["pod"]["metadata"]["name"]
    core.read_namespaced_pod(name, "shop")  # leaves a pooled keep-alive connection
    api.down()
    assert not api.is_up
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.read_namespaced_pod(name, "shop")
    api.up()
    assert core.read_namespaced_pod(name, "shop").metadata.name == name

    api.delay(r"/pods/", 30)  # a hanging apiserver; urllib3 retries the read timeout 3 times
    start = time.monotonic()
    with pytest.raises(urllib3.exceptions.MaxRetryError) as exc:
        core.read_namespaced_pod(name, "shop", _request_timeout=0.2)
    assert isinstance(exc.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert time.monotonic() - start < 3
    seen, outcome = len(api.requests), []

    def read() -> None:
        try:
            core.read_namespaced_pod(name, "shop")
        except urllib3.exceptions.HTTPError as exc:
            outcome.append(exc)

    hanging = threading.Thread(target=read)
    hanging.start()
    wait_until(lambda: len(api.requests) > seen)
    start = time.monotonic()
    api.stop()  # must not wait out the 30 s delay: the held request is dropped
    hanging.join(5)
    assert not hanging.is_alive() and time.monotonic() - start < 3
    assert [type(e) for e in outcome] == [urllib3.exceptions.MaxRetryError]


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


def test_patch_helpers() -> None:
    doc = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}],
                    "tolerations": [{"key": "x"}]}, "metadata": {"finalizers": ["f1"]}}
    out = strategic_merge_patch(doc, {
        "spec": {"containers": [{"name": "b", "$patch": "delete"}, {"name": "c", "image": "2"}],
                 "tolerations": [{"key": "y"}]},
        "metadata": {"finalizers": ["f2"]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "c"]
    assert out["spec"]["tolerations"] == [{"key": "y"}]
    assert out["metadata"]["finalizers"] == ["f1", "f2"]
    assert json_patch({"a": [1, 2]}, [{"op": "add", "path": "/a/-", "value": 3},
                                      {"op": "move", "from": "/a", "path": "/b"}]) == \
        {"b": [1, 2, 3]}
    with pytest.raises(ApiError) as err:
        json_patch({"a": 1}, [{"op": "remove", "path": "/missing"}])
    assert err.value.code == 422
