"""The fake kube-apiserver with the real kubernetes client (v36): writes, patches, evictions,
deletes, dry runs."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.kube_errors import ApiError
from tests.fakes.kube_patch import json_patch, strategic_merge_patch
from tests.unit.fake_kube_api.support import status_body


def eviction(name: str, ns: str, **delete_options: Any) -> client.V1Eviction:
    return client.V1Eviction(
        api_version="policy/v1", kind="Eviction",
        metadata=client.V1ObjectMeta(name=name, namespace=ns),
        delete_options=client.V1DeleteOptions(**delete_options) if delete_options else None)


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


# ---- pure helpers --------------------------------------------------------------------------


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
