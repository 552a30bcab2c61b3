"""The router's owner walk matches an owner by API group, kind and uid, as the executor does.

A pod of OpenKruise's `apps.kruise.io` StatefulSet must not get `owner.kind = StatefulSet` (a
runbook restricted to built-in StatefulSets would then apply to it), nor read the core
StatefulSet of the same name; an owner deleted and recreated under its name is not the owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.decide.facts import compute
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.functional.router_support import api_calls, context, fake_api, pod_alert, with_nodes


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    yield from fake_api()


def _kruise(api: FakeKubeAPI, sc: ko.Scenario) -> str:
    pod = sc["pod"]["metadata"]["name"]

    def owned(p: dict[str, Any]) -> None:
        p["metadata"]["ownerReferences"] = [{
            "apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "name": "checkout",
            "uid": "kruise-uid-1", "controller": True, "blockOwnerDeletion": True}]

    api.mutate("Pod", "shop", pod, owned)
    return pod


@pytest.mark.parametrize("core_namesake", [False, True])
def test_a_kruise_statefulset_is_not_the_builtin_one(api: FakeKubeAPI,
                                                     core_namesake: bool) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    _kruise(api, sc)
    if core_namesake:
        api.add(ko.statefulset("checkout", "shop"))
    a = pod_alert(sc)
    ctx = context(api, a)
    assert [(o.kind, o.name, o.uid) for o in ctx.owners] == [
        ("StatefulSet.apps.kruise.io", "checkout", "kruise-uid-1")]
    assert ctx.pods[0].owner is not None and ctx.pods[0].owner.kind == "StatefulSet.apps.kruise.io"
    facts = compute(a, ctx, now=datetime.now(UTC))
    assert facts["owner.kind"] == "StatefulSet.apps.kruise.io"
    # The core StatefulSet of that name is neither read nor described.
    assert not [c for c in api_calls(api) if "/statefulsets" in c]
    assert not [w for w in ctx.workloads if w.ref.kind == "StatefulSet"]


def test_a_builtin_owner_of_its_own_group_is_still_walked(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    ctx = context(api, pod_alert(sc))
    assert [o.kind for o in ctx.owners] == ["ReplicaSet", "Deployment"]


def test_a_recreated_owner_is_not_the_owner(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    pod = sc["pod"]["metadata"]["name"]
    rs = sc["replicaset"]["metadata"]["name"]

    def previous_owner(p: dict[str, Any]) -> None:  # its ReplicaSet was deleted and recreated
        p["metadata"]["ownerReferences"][0]["uid"] = "the-replicaset-before"

    api.mutate("Pod", "shop", pod, previous_owner)
    a = pod_alert(sc)
    ctx = context(api, a)
    # Named with the uid the pod points at, not walked further: no Deployment as its top owner.
    assert [(o.kind, o.name, o.uid) for o in ctx.owners] == [
        ("ReplicaSet", rs, "the-replicaset-before")]
    assert any("not the object of that name now" in e for e in ctx.errors), ctx.errors
    assert compute(a, ctx, now=datetime.now(UTC))["owner.kind"] == "ReplicaSet"
    assert not [w for w in ctx.workloads if w.ref.kind == "Deployment"]
