"""The executor when the cluster pushes back, through its real app against the fake API:
conflicts (retried once after a fresh read, stopped when the target opted out meanwhile),
RBAC refusals, an API that fails or cannot be reached (503 for the broker to retry), a
redelivered delete, a rejected plan."""

from __future__ import annotations

import json
import threading

from orchestrator.events import (
    ACTION_COMPLETED,
    ACTION_FAILED,
    ESCALATED,
)
from tests.fakes.serving import wait_until
from tests.functional.executor_support import (
    Harness,
    Reply,
    action,
    crashloop,
    pod_alert,
    proposal,
    ref,
)


def test_an_injected_conflict_is_retried_once_after_a_fresh_read(harness: Harness) -> None:
    sc = crashloop(harness)
    harness.api.fail("PATCH", r"/deployments/checkout$", 409, times=1)
    r = harness.propose(proposal(pod_alert(sc["pod"]),
                                 action("rollout_restart", ref("Deployment", "checkout", "shop"))))
    assert r.type == ACTION_COMPLETED, r.body
    patches = [q for q in harness.api.requests if q.method == "PATCH"]
    assert [q.dry_run for q in patches] == [True, True, False]


def test_a_real_conflict_on_the_write_rereads_rechecks_and_retries(harness: Harness) -> None:
    """Someone changes the Deployment between the executor's read and its write: the
    resourceVersion precondition fails (409), the executor re-reads, re-checks, retries once."""
    sc = crashloop(harness)
    p = proposal(pod_alert(sc["pod"]),
                 action("rollout_restart", ref("Deployment", "checkout", "shop")))
    harness.api.delay(r"/leases$", 1.0, method="POST", times=1)  # hold it just before the write
    box: dict[str, object] = {}
    worker = threading.Thread(target=lambda: box.update(r=harness.propose(p)))
    worker.start()
    wait_until(lambda: harness.api.find_requests("POST", r"/leases$"))
    harness.api.mutate("Deployment", "shop", "checkout",
                       lambda d: d["metadata"].setdefault("labels", {}).update(team="payments"))
    worker.join(timeout=10)
    r = box["r"]
    assert isinstance(r, Reply) and r.type == ACTION_COMPLETED, getattr(r, "body", r)
    writes = [q for q in harness.writes() if q.method == "PATCH"]
    assert len(writes) == 2
    assert writes[0].body["metadata"]["resourceVersion"] != \
        writes[1].body["metadata"]["resourceVersion"]
    after = harness.api.get("Deployment", "shop", "checkout")
    assert after["metadata"]["labels"]["team"] == "payments"  # their change is kept
    assert after["metadata"]["annotations"]["orchestrator.io/plan"] == "plan-1"


def test_an_opt_out_added_between_read_and_write_stops_the_retry(harness: Harness) -> None:
    sc = crashloop(harness)
    p = proposal(pod_alert(sc["pod"]),
                 action("rollout_restart", ref("Deployment", "checkout", "shop")))
    harness.api.delay(r"/leases$", 1.0, method="POST", times=1)
    box: dict[str, object] = {}
    worker = threading.Thread(target=lambda: box.update(r=harness.propose(p)))
    worker.start()
    wait_until(lambda: harness.api.find_requests("POST", r"/leases$"))
    harness.api.mutate("Deployment", "shop", "checkout", lambda d: d["metadata"].setdefault(
        "annotations", {}).update({"orchestrator.io/automation": "disabled"}))
    worker.join(timeout=10)
    r = box["r"]
    assert isinstance(r, Reply) and r.type == ACTION_FAILED, getattr(r, "body", r)
    assert "orchestrator.io/automation: disabled" in r.data.error
    assert len([q for q in harness.writes() if q.method == "PATCH"]) == 1  # the 409'd one
    entries = json.loads(harness.leases()[0]["metadata"]["annotations"][
        "orchestrator.io/budget-entries"])
    assert [e["state"] for e in entries] == ["failed"]


def test_a_conflict_that_persists_is_a_retryable_failure(harness: Harness) -> None:
    sc = crashloop(harness)
    harness.api.fail("PATCH", r"/deployments/checkout$", 409)
    r = harness.propose(proposal(pod_alert(sc["pod"]),
                                 action("rollout_restart", ref("Deployment", "checkout", "shop"))))
    assert r.status == 503 and "kept changing" in r.body["error"]
    assert harness.leases() == []


def test_rbac_forbidden_is_a_refusal_with_the_api_reason(harness: Harness) -> None:
    sc = crashloop(harness)
    harness.api.fail("POST", r"/eviction$", 403,
                     message='pods "x" is forbidden: User "system:serviceaccount:io:executor" '
                             'cannot create resource "pods/eviction"')
    name = sc["pod"]["metadata"]["name"]
    r = harness.propose(proposal(pod_alert(sc["pod"]),
                                 action("delete_pod", ref("Pod", name, "shop"))))
    assert r.type == ESCALATED and r.data.reason == "policy"
    assert "RBAC" in r.data.detail and "pods/eviction" in r.data.detail
    assert harness.api.get("Pod", "shop", name) is not None


def test_api_unreachable_or_failing_is_a_503_for_the_broker_to_retry(harness: Harness) -> None:
    sc = crashloop(harness)
    p = proposal(pod_alert(sc["pod"]),
                 action("rollout_restart", ref("Deployment", "checkout", "shop")))
    harness.api.fail("GET", r"/deployments/checkout$", 500, times=1)
    assert harness.propose(p).status == 503
    harness.api.down()
    r = harness.propose(p)
    assert r.status == 503 and "unreachable" in r.body["error"]
    harness.api.up()
    assert harness.propose(p).type == ACTION_COMPLETED


def test_redelivered_delete_pod_is_reported_done_after_the_pod_is_gone(
        harness: Harness) -> None:
    sc = crashloop(harness)
    name = sc["pod"]["metadata"]["name"]
    p = proposal(pod_alert(sc["pod"]), action("delete_pod", ref("Pod", name, "shop")))
    first = harness.propose(p, event_id="same")
    again = harness.propose(p, event_id="same")
    assert [x.outcome for x in first.data.results] == ["applied"]
    assert [x.outcome for x in again.data.results] == ["already-applied"]
    assert first.headers["ce-id"] == again.headers["ce-id"]
    assert again.headers["ce-partitionkey"] == "shop/Pod/" + name  # no owner chain left
    assert len([q for q in harness.writes() if q.path.endswith("/eviction")]) == 1


def test_plan_rejected_escalates(harness: Harness) -> None:
    from tests.functional.test_executor_approval import decision

    sc = crashloop(harness)
    p = proposal(pod_alert(sc["pod"]), action("scale", ref("Deployment", "checkout", "shop"),
                                              replicas=2),
                 runbooks=("capacity_test",))
    req = harness.propose(p).data
    r = harness.send(*decision(req, "rejected", comment="not during the sale"))
    assert r.type == ESCALATED and r.data.reason == "approval-rejected"
    assert "alice@example.com" in r.data.detail and "not during the sale" in r.data.detail
    assert harness.workload_writes() == []
