"""The executor acts only on facts it read itself: a context that says "crash-looping" about a
healthy Deployment gets a plan the agent signs, and the executor still refuses it, naming the
runbook conditions that fail on the live objects. Also what it reads to get there: owners
matched by group, kind and uid; GitOps field managers; the opt-out as a label or annotation.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.events import ACTION_COMPLETED, ESCALATED, Escalated
from tests.fakes import kube_objects as ko
from tests.functional.executor_support import (
    Harness,
    action,
    pod_alert,
    proposal,
    ref,
)

SCALE_OK = "mode: enforce\nauto_approve_max_risk: medium\nactions: {rollback: {auto_approve: true}}\n"


def heal(h: Harness, sc: ko.Scenario) -> None:
    """The crash is over: the pod runs and is ready, the Deployment has its replica back."""
    h.api.mutate("Pod", "shop", sc["pod"]["metadata"]["name"], ko.heal_pod)
    h.api.mutate("Deployment", "shop", "checkout", ko.roll_out)


def escalated(r: Any) -> Escalated:
    assert r.type == ESCALATED, r.body
    assert isinstance(r.data, Escalated)
    return r.data


@pytest.mark.parametrize("policy", ["mode: enforce\n", "mode: dry-run\n"])
def test_a_condition_that_held_in_the_context_but_fails_live_is_refused_by_name(
        harness: Harness, policy: str) -> None:
    harness.set_policy(policy)
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    p = proposal(pod_alert(sc["pod"]), action("rollout_restart", ref("Deployment", "checkout",
                                                                     "shop")),
                 runbooks=("k8s_crashloop",))
    heal(harness, sc)
    data = escalated(harness.propose(p))
    assert data.reason == "policy"
    assert "workload.available_replicas eq 0: fails (workload.available_replicas = 1)" \
        in data.detail, data.detail
    assert [w for w in harness.writes(dry_run=None) if w in harness.workload_writes()
            or w.dry_run] == []


def test_the_same_plan_runs_while_its_conditions_hold(harness: Harness) -> None:
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    r = harness.propose(proposal(pod_alert(sc["pod"]), action(
        "rollout_restart", ref("Deployment", "checkout", "shop")), runbooks=("k8s_crashloop",)))
    assert r.type == ACTION_COMPLETED, r.body
    assert [w.path for w in harness.workload_writes()] == \
        ["/apis/apps/v1/namespaces/shop/deployments/checkout"]


def test_an_unknown_fact_is_refused_as_unknown(harness: Harness) -> None:
    """The pod reports no container status: nothing about its container is known, so nothing
    is licensed, whatever the context said."""
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    p = proposal(pod_alert(sc["pod"]), action("rollout_restart", ref("Deployment", "checkout",
                                                                     "shop")),
                 runbooks=("k8s_crashloop",))
    def no_status(o: dict[str, Any]) -> None:
        del o["status"]["containerStatuses"]

    harness.api.mutate("Pod", "shop", sc["pod"]["metadata"]["name"], no_status)
    data = escalated(harness.propose(p))
    assert "container.last_termination_reason eq 'Error': fails " \
        "(container.last_termination_reason = unknown)" in data.detail, data.detail
    assert harness.workload_writes() == []


def _kruise_pod(h: Harness, *, core_namesake: bool) -> str:
    sc = ko.crashlooping_deployment().load(h.api)
    pod = sc["pod"]["metadata"]["name"]

    def kruise(p: dict[str, Any]) -> None:
        p["metadata"]["ownerReferences"] = [{
            "apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "name": "checkout",
            "uid": "kruise-uid-1", "controller": True, "blockOwnerDeletion": True}]

    h.api.mutate("Pod", "shop", pod, kruise)
    if core_namesake:
        h.api.add(ko.statefulset("checkout", "shop"))
    return pod


@pytest.mark.parametrize("core_namesake", [False, True])
def test_a_pod_of_a_kruise_statefulset_is_not_an_orphan_of_a_core_one(
        harness: Harness, core_namesake: bool) -> None:
    pod = _kruise_pod(harness, core_namesake=core_namesake)
    data = escalated(harness.propose(proposal(pod_alert({"metadata": {
        "name": pod, "namespace": "shop"}}), action("delete_pod", ref("Pod", pod, "shop")))))
    assert "controlled by apps.kruise.io/v1beta1 StatefulSet checkout" in data.detail, \
        data.detail
    assert not [r for r in harness.writes(dry_run=None) if "eviction" in r.path]


def test_a_recreated_owner_is_not_the_owner(harness: Harness) -> None:
    sc = ko.crashlooping_deployment().load(harness.api)
    pod = sc["pod"]["metadata"]["name"]

    def previous_owner(p: dict[str, Any]) -> None:  # its ReplicaSet of that name was recreated
        p["metadata"]["ownerReferences"][0]["uid"] = "the-replicaset-before"

    harness.api.mutate("Pod", "shop", pod, previous_owner)
    data = escalated(harness.propose(proposal(pod_alert(sc["pod"]), action(
        "delete_pod", ref("Pod", pod, "shop")))))
    assert "not the object of that name now" in data.detail, data.detail
    assert harness.workload_writes() == []


@pytest.mark.parametrize(("manager", "tool"), [
    ("argocd-controller", "Argo CD"),
    ("argocd-application-controller", "Argo CD"),
    ("kustomize-controller", "Flux"),
    ("helm-controller", "Flux"),
])
def test_a_rollback_of_a_workload_a_gitops_field_manager_applies_is_refused(
        harness: Harness, manager: str, tool: str) -> None:
    harness.set_policy(SCALE_OK)
    sc = ko.crashlooping_deployment().load(harness.api)
    harness.api.mutate("Deployment", "shop", "checkout", lambda d: d["metadata"].update(
        labels={**d["metadata"].get("labels", {}), "app.kubernetes.io/instance": "shop"},
        managedFields=[{"manager": manager, "operation": "Apply", "apiVersion": "apps/v1"}]))
    data = escalated(harness.propose(proposal(pod_alert(sc["pod"]), action(
        "rollback", ref("Deployment", "checkout", "shop")))))
    assert f"managed by {tool}" in data.detail, data.detail
    assert harness.workload_writes() == []


@pytest.mark.parametrize("field", ["annotations", "labels"])
@pytest.mark.parametrize("value", ["disabled", "off", "false", "False", "no", "0"])
def test_the_opt_out_as_label_or_annotation_in_every_spelling(harness: Harness, field: str,
                                                              value: str) -> None:
    sc = ko.crashlooping_deployment().load(harness.api)
    harness.api.mutate("Deployment", "shop", "checkout", lambda d: d["metadata"].setdefault(
        field, {}).update({"orchestrator.io/automation": value}))
    pod = sc["pod"]["metadata"]["name"]
    data = escalated(harness.propose(proposal(pod_alert(sc["pod"]), action(
        "delete_pod", ref("Pod", pod, "shop")))))
    assert f"orchestrator.io/automation: {value}" in data.detail, data.detail
    assert harness.workload_writes() == []


def test_an_explicit_opt_in_keeps_automation_on(harness: Harness) -> None:
    sc = ko.crashlooping_deployment().load(harness.api)
    harness.api.mutate("Deployment", "shop", "checkout", lambda d: d["metadata"].setdefault(
        "labels", {}).update({"orchestrator.io/automation": "enabled"}))
    pod = sc["pod"]["metadata"]["name"]
    r = harness.propose(proposal(pod_alert(sc["pod"]), action("delete_pod",
                                                              ref("Pod", pod, "shop"))))
    assert r.type == ACTION_COMPLETED, r.body
