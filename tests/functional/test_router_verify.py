"""Closing the loop: after an action, a bounded watch until healthy, or an escalation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orchestrator.adapters.kube_reads import KubeReader
from orchestrator.context import ObjectRef
from orchestrator.envelope import Outgoing
from orchestrator.events import (
    ACTION_COMPLETED,
    ACTION_FAILED,
    ESCALATED,
    RESOLVED,
    ActionCompleted,
    ActionFailed,
    Escalated,
    Resolved,
)
from orchestrator.orient.core import verify
from orchestrator.plan import Action, ActionResult
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.serving import wait_until
from tests.functional.router_support import alert, event, fake_api, settings


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    yield from fake_api()


def _result(type_: str, target: ObjectRef, outcome: str = "applied") -> ActionResult:
    return ActionResult(action=Action(type=type_, target=target),  # type: ignore[arg-type]
                        outcome=outcome, dry_run="accepted by the API server (dryRun=All)",  # type: ignore[arg-type]
                        api_result="201 Created" if outcome == "applied" else "")


def _completed(*results: ActionResult, mode: str = "enforce") -> ActionCompleted:
    return ActionCompleted(incident_key="inc-1", alert=alert({"namespace": "shop"}),
                           plan_id="plan-1", mode=mode, results=list(results))  # type: ignore[arg-type]


def _verify(api: FakeKubeAPI, data: Any, *, timeout: float = 5.0, settle: float = 0.3,
            type_: str = ACTION_COMPLETED, reads: bool = True) -> Outgoing:
    return verify(event=event(type_, data, partitionkey="shop/Deployment/checkout"),
                  reads=KubeReader(api.server()) if reads else None,
                  settings=settings(verify_timeout_seconds=timeout, verify_settle_seconds=settle))


def _later(api: FakeKubeAPI, *changes: Callable[[], object]) -> threading.Thread:
    """Apply changes once the router watches (a controller catching up), in a thread."""
    def run() -> None:
        api.wait_for_watchers(1, timeout=10)
        for change in changes:
            change()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _heal(api: FakeKubeAPI, name: str = "checkout", replicas: int = 1) -> Callable[[], object]:
    def fix(d: dict[str, Any]) -> None:
        d["status"].update(readyReplicas=replicas, availableReplicas=replicas,
                           updatedReplicas=replicas, replicas=replicas,
                           observedGeneration=d["metadata"]["generation"])
        d["status"].pop("unavailableReplicas", None)

    return lambda: api.mutate("Deployment", "shop", name, fix)


def _pod_ref(sc: ko.Scenario) -> ObjectRef:
    m = sc["pod"]["metadata"]
    return ObjectRef(kind="Pod", name=m["name"], namespace=m["namespace"], uid=m["uid"])


def test_deleted_pod_verified_on_its_deployment(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    api.remove("Pod", "shop", sc["pod"]["metadata"]["name"])  # evicted by the executor
    healer = _later(api, _heal(api))
    out = _verify(api, _completed(_result("delete_pod", _pod_ref(sc))))
    healer.join()
    assert out.type == RESOLVED and isinstance(out.data, Resolved)
    assert out.data.how == "verified-healthy"
    assert out.data.detail.startswith("Deployment shop/checkout healthy: 1/1 available")
    assert out.partition_key == "shop/Deployment/checkout"
    assert api.find_requests(path="/deployments$", watch="true")


def test_restart_that_does_not_heal_escalates_at_the_deadline(api: FakeKubeAPI) -> None:
    ko.crashlooping_deployment().load(api)
    target = ObjectRef(kind="Deployment", name="checkout", namespace="shop")
    started = time.monotonic()
    out = _verify(api, _completed(_result("rollout_restart", target)), timeout=1.5)
    elapsed = time.monotonic() - started
    assert out.type == ESCALATED and isinstance(out.data, Escalated)
    assert out.data.reason == "verification-failed" and out.data.plan_id == "plan-1"
    assert "Deployment shop/checkout not healthy after" in out.data.detail
    assert "0/1 available" in out.data.detail and "ProgressDeadlineExceeded" in out.data.detail
    assert 1.4 <= elapsed < 4.0


def test_healthy_for_a_moment_is_not_healed(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    d = sc["deployment"]

    def relapse() -> None:
        wait_until(lambda: len(api.find_requests(path="/deployments$", watch="true")) >= 2,
                   timeout=5)
        api.update(d)  # crashes again: back to 0 available, within the settle period

    healer = _later(api, _heal(api), relapse)
    out = _verify(api, _completed(_result("rollout_restart", ObjectRef(
        kind="Deployment", name="checkout", namespace="shop"))), timeout=2.0, settle=1.0)
    healer.join()
    assert out.type == ESCALATED, out.data


def test_statefulset_pod_replaced_under_the_same_name_is_watched(api: FakeKubeAPI) -> None:
    sts = ko.statefulset("db", "data", ready_replicas=0)
    old = ko.pod_for(sts, 0, statuses=[ko.container_status(
        state="waiting", reason="CrashLoopBackOff", restart_count=5, last_reason="Error")])
    api.add_all([sts, old])
    target = ObjectRef(kind="Pod", name="db-0", namespace="data", uid=old["metadata"]["uid"])
    api.remove("Pod", "data", "db-0")
    new = api.add(ko.pod_for(sts, 0, statuses=[ko.container_status(
        state="waiting", reason="ContainerCreating", ready=False)]))

    def ready(p: dict[str, Any]) -> None:
        fresh = ko.pod_for(sts, 0)
        p["status"] = fresh["status"]

    healer = _later(api, lambda: api.mutate("Pod", "data", "db-0", ready))
    out = _verify(api, _completed(_result("delete_pod", target)))
    healer.join()
    assert out.type == RESOLVED
    assert isinstance(out.data, Resolved) and out.data.detail.startswith("Pod data/db-0 healthy")
    assert new["metadata"]["uid"] != target.uid


def test_deleted_failed_job_is_verified_by_its_absence(api: FakeKubeAPI) -> None:
    sc = ko.failed_job().load(api)
    job = sc["job"]["metadata"]
    target = ObjectRef(kind="Job", name=job["name"], namespace="batch", uid=job["uid"])
    healer = _later(api, lambda: api.remove("Job", "batch", job["name"]))
    out = _verify(api, _completed(_result("delete_failed_job", target)))
    healer.join()
    assert out.type == RESOLVED and isinstance(out.data, Resolved)
    assert "gone" in out.data.detail


def test_cordoned_notready_node_still_needs_a_human(api: FakeKubeAPI) -> None:
    ko.notready_node().load(api)
    api.mutate("Node", None, "worker-7", lambda n: n["spec"].update(unschedulable=True))
    out = _verify(api, _completed(_result("cordon_node", ObjectRef(kind="Node", name="worker-7"))),
                  timeout=1.0)
    assert out.type == ESCALATED and isinstance(out.data, Escalated)
    assert "Ready=Unknown, cordoned" in out.data.detail


def test_dry_run_mode_escalates_saying_nothing_was_applied(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    out = _verify(api, _completed(_result("delete_pod", _pod_ref(sc), "dry-run"), mode="dry-run"))
    assert out.type == ESCALATED and isinstance(out.data, Escalated)
    assert out.data.reason == "dry-run"
    assert "nothing was applied" in out.data.detail and "A human must act" in out.data.detail
    assert "accepted by the API server" in out.data.detail
    assert api.requests == []  # no watch for what did not happen


def test_failed_action_escalates_with_the_executors_error(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    failed = ActionFailed(incident_key="inc-1", alert=alert({"namespace": "shop"}),
                          plan_id="plan-1", mode="enforce",
                          results=[_result("delete_pod", _pod_ref(sc), "failed")],
                          error="eviction refused by PodDisruptionBudget checkout-pdb")
    out = _verify(api, failed, type_=ACTION_FAILED)
    assert out.type == ESCALATED and isinstance(out.data, Escalated)
    assert out.data.reason == "action-failed" and "PodDisruptionBudget" in out.data.detail


def test_nothing_applied_in_enforce_mode_escalates(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    out = _verify(api, _completed(_result("delete_pod", _pod_ref(sc), "refused")))
    assert isinstance(out.data, Escalated) and out.data.reason == "policy"


def test_without_a_cluster_verification_escalates(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    out = _verify(api, _completed(_result("delete_pod", _pod_ref(sc))), reads=False)
    assert isinstance(out.data, Escalated) and out.data.reason == "verification-failed"
    assert "no cluster connection" in out.data.detail


def test_same_input_same_output_id(api: FakeKubeAPI) -> None:
    ko.crashlooping_deployment().load(api)
    api.mutate("Deployment", "shop", "checkout", lambda d: _heal_in_place(d))
    data = _completed(_result("rollout_restart", ObjectRef(kind="Deployment", name="checkout",
                                                           namespace="shop")))
    a, b = _verify(api, data, settle=0), _verify(api, data, settle=0)
    assert a.type == b.type == RESOLVED and a.id == b.id


def _heal_in_place(d: dict[str, Any]) -> None:
    d["status"].update(readyReplicas=1, availableReplicas=1, updatedReplicas=1, replicas=1,
                       observedGeneration=d["metadata"]["generation"])
