"""What a long-running watcher relies on, through the real client: bookmarks keep its
resourceVersion current while nothing changes, a compacted history answers 410 Gone so it lists
again, and a write from a stale resourceVersion is a 409, never a lost update."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI


def test_an_idle_watch_receives_bookmarks_with_the_current_version(
        api: FakeKubeAPI, core: client.CoreV1Api, crashloop: ko.Scenario) -> None:
    api.bookmark_interval = 0.2
    pods = core.list_namespaced_pod("shop")
    api.add(ko.namespace("elsewhere"))  # bumps the version: the bookmark must carry it
    w = watch.Watch()
    seen = []
    for event in w.stream(core.list_namespaced_pod, namespace="shop", timeout_seconds=1,
                          resource_version=pods.metadata.resource_version,
                          allow_watch_bookmarks=True):
        seen.append(event)
        if event["type"] == "BOOKMARK":
            w.stop()
    assert [e["type"] for e in seen] == ["BOOKMARK"]
    assert w.resource_version == str(api.resource_version)


def test_a_watch_without_bookmarks_gets_none(api: FakeKubeAPI, core: client.CoreV1Api,
                                             crashloop: ko.Scenario) -> None:
    api.bookmark_interval = 0.1
    rv = core.list_namespaced_pod("shop").metadata.resource_version
    events = list(watch.Watch().stream(core.list_namespaced_pod, namespace="shop",
                                       timeout_seconds=1, resource_version=rv))
    assert events == []


def test_a_watch_behind_compaction_gets_410_and_a_relist_resumes(
        api: FakeKubeAPI, core: client.CoreV1Api, crashloop: ko.Scenario) -> None:
    pod = crashloop["pod"]["metadata"]["name"]
    old_rv = core.list_namespaced_pod("shop").metadata.resource_version
    core.patch_namespaced_pod(pod, "shop", {"metadata": {"labels": {"seen": "1"}}})
    api.store.compact()
    with pytest.raises(ApiException) as gone:
        list(watch.Watch().stream(core.list_namespaced_pod, namespace="shop",
                                  resource_version=old_rv, timeout_seconds=1))
    assert gone.value.status == 410
    fresh = core.list_namespaced_pod("shop")  # the informer's resync: list, then watch from it
    assert fresh.items[0].metadata.labels["seen"] == "1"
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.extend(watch.Watch().stream(
        core.list_namespaced_pod, namespace="shop", timeout_seconds=1,
        resource_version=fresh.metadata.resource_version)))
    t.start()
    api.wait_for_watchers(1)
    core.patch_namespaced_pod(pod, "shop", {"metadata": {"labels": {"seen": "2"}}})
    t.join(5)
    assert [(e["type"], e["object"].metadata.labels["seen"]) for e in got] == [("MODIFIED", "2")]


def test_a_write_from_a_stale_version_conflicts(api: FakeKubeAPI, apps: client.AppsV1Api,
                                                crashloop: ko.Scenario) -> None:
    stale = apps.read_namespaced_deployment("checkout", "shop")
    apps.patch_namespaced_deployment("checkout", "shop", {"spec": {"replicas": 4}})
    body = {"metadata": {"resourceVersion": stale.metadata.resource_version},
            "spec": {"replicas": 1}}
    with pytest.raises(ApiException) as conflict:
        apps.patch_namespaced_deployment("checkout", "shop", body)
    assert conflict.value.status == 409
    assert apps.read_namespaced_deployment("checkout", "shop").spec.replicas == 4
    stale.spec.replicas = 2
    with pytest.raises(ApiException) as replaced:
        apps.replace_namespaced_deployment("checkout", "shop", stale)
    assert replaced.value.status == 409


def test_a_declared_denial_is_the_real_authorizers_403(api: FakeKubeAPI, core: client.CoreV1Api,
                                                        crashloop: ko.Scenario) -> None:
    from orchestrator.sim.rbac import Denial

    pod = crashloop["pod"]["metadata"]["name"]
    api.denials.append(Denial("create", "pods/eviction", "shop"))
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod, namespace="shop"))
    with pytest.raises(ApiException) as denied:
        core.create_namespaced_pod_eviction(pod, "shop", body)
    assert denied.value.status == 403
    status = json.loads(denied.value.body)
    assert status["reason"] == "Forbidden"
    assert 'cannot create resource "pods/eviction" in API group "" in the namespace "shop"' \
        in status["message"]
    assert core.read_namespaced_pod(pod, "shop").metadata.name == pod  # reads still allowed
    api.denials.clear()
    core.create_namespaced_pod_eviction(pod, "shop", body)
