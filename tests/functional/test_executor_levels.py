"""Autonomy levels through the real executor app and the fake Kubernetes API: at `observe`
nothing but reads reaches the API server and the reply is a "would do" record; a workload's or
a Namespace's `orchestrator.io/automation` lowers the level; `approve` asks a human even for an
auto-approved action; `observe` watches namespaces outside the allow list."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.events import (
    ACTION_COMPLETED,
    APPROVAL_REQUESTED,
    ActionCompleted,
    ApprovalRequested,
)
from tests.fakes import kube_objects as ko
from tests.functional.executor_support import (
    Harness,
    action,
    pod_alert,
    proposal,
    ref,
)
from tests.functional.test_executor_evidence import escalated, heal

APPROVERS = 'approvers: ["alice@example.com"]\n'


def _mark(h: Harness, kind: str, namespace: str | None, name: str, value: str) -> None:
    if kind == "Namespace":
        h.api.add(ko.namespace(name))
    h.api.mutate(kind, namespace, name, lambda o: o["metadata"].setdefault(
        "annotations", {}).update({"orchestrator.io/automation": value}))


def _restart(h: Harness, sc: ko.Scenario) -> Any:
    return h.propose(proposal(pod_alert(sc["pod"]), action(
        "rollout_restart", ref("Deployment", "checkout", "shop")), runbooks=("k8s_crashloop",)))


def _completed(r: Any, mode: str) -> ActionCompleted:
    assert r.type == ACTION_COMPLETED, r.body
    assert isinstance(r.data, ActionCompleted) and r.data.mode == mode, r.data
    return r.data


def test_observe_records_what_it_would_do_and_sends_only_reads(harness: Harness) -> None:
    harness.set_policy("mode: observe\n" + APPROVERS)
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    done = _completed(_restart(harness, sc), "observe")
    (result,) = done.results
    assert result.outcome == "would-do" and result.action.type == "rollout_restart"
    assert result.api_result.startswith("would run without a human at auto; nothing executed "
                                        "at level observe (the policy's mode: observe)")
    assert harness.api.requests and {r.method for r in harness.api.requests} == {"GET"}


def test_observe_still_refuses_what_the_live_objects_do_not_license(harness: Harness) -> None:
    harness.set_policy("mode: observe\n")
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    heal(harness, sc)
    data = escalated(_restart(harness, sc))
    assert data.reason == "policy" and "workload.available_replicas eq 0: fails" in data.detail
    assert {r.method for r in harness.api.requests} == {"GET"}


@pytest.mark.parametrize(("kind", "namespace", "name"), [("Deployment", "shop", "checkout"),
                                                         ("Namespace", None, "shop")])
def test_a_mark_on_the_workload_or_its_namespace_lowers_auto_to_observe(
        harness: Harness, kind: str, namespace: str | None, name: str) -> None:
    harness.set_policy("mode: enforce\n" + APPROVERS)
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    _mark(harness, kind, namespace, name, "observe")
    done = _completed(_restart(harness, sc), "observe")
    assert f"{kind} {name} is annotated orchestrator.io/automation: observe" in \
        done.results[0].api_result
    assert {r.method for r in harness.api.requests} == {"GET"}


def test_a_dry_run_mark_keeps_an_auto_namespace_to_dry_runs(harness: Harness) -> None:
    harness.set_policy("mode: observe\nnamespaces: {levels: {shop: auto}}\n" + APPROVERS)
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    _mark(harness, "Deployment", "shop", "checkout", "dry-run")
    done = _completed(_restart(harness, sc), "dry-run")
    assert done.results[0].outcome == "dry-run"
    assert harness.workload_writes() == [] and harness.writes(dry_run=True)


def test_approve_asks_a_human_even_for_an_auto_approved_action(harness: Harness) -> None:
    harness.set_policy("mode: observe\nnamespaces: {levels: {shop: approve}}\n" + APPROVERS)
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    r = _restart(harness, sc)
    assert r.type == APPROVAL_REQUESTED, r.body
    assert isinstance(r.data, ApprovalRequested)
    assert r.data.why == ("every action needs a human at level approve "
                          "(namespaces.levels['shop']: approve)")
    assert harness.workload_writes() == []


def test_a_promoted_namespace_runs_alone_while_the_default_observes(harness: Harness) -> None:
    harness.set_policy("mode: observe\nnamespaces: {levels: {shop: auto}}\n" + APPROVERS)
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    _completed(_restart(harness, sc), "enforce")
    assert [w.path for w in harness.workload_writes()] == \
        ["/apis/apps/v1/namespaces/shop/deployments/checkout"]


def test_observe_watches_outside_the_allow_list_where_dry_run_refuses(harness: Harness) -> None:
    harness.set_policy("mode: observe\nnamespaces: {allow: [default]}\n")
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    assert _completed(_restart(harness, sc), "observe").results[0].outcome == "would-do"
    harness.set_policy("mode: dry-run\nnamespaces: {allow: [default]}\n")
    data = escalated(_restart(harness, sc))
    assert "namespace 'shop' is not in the policy's allow list" in data.detail


def test_a_disabled_namespace_level_refuses(harness: Harness) -> None:
    harness.set_policy("mode: enforce\nnamespaces: {levels: {shop: off}}\n" + APPROVERS)
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    data = escalated(_restart(harness, sc))
    assert data.detail.startswith("automation is off here: level disabled "
                                  "(namespaces.levels['shop']: disabled)"), data.detail
    assert harness.workload_writes() == []


def test_a_broken_policy_is_the_kill_switch_and_its_error_names_the_line(
        harness: Harness) -> None:
    harness.set_policy("mode: auto\nnamespaces:\n  levels:\n    shop: fast\n" + APPROVERS)
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    before = len(harness.api.requests)
    data = escalated(_restart(harness, sc))
    assert data.reason == "policy"
    assert data.detail.startswith("the executor's policy is invalid, so nothing runs: ")
    assert f"{harness.policy_path}:4: namespaces.levels.shop: Input should be" in data.detail
    assert harness.api.requests[before:] == [], "a broken policy reads nothing either"
