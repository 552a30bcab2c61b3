"""At-least-once delivery: the same plan delivered three times, or two plans for one workload at
once, perform ONE action. Concurrent deliveries run on real threads against the fake API, with
the dry runs held back by the fake so every delivery reads the same resourceVersion first."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from orchestrator.events import ACTION_COMPLETED, PlanProposed
from tests.fakes import kube_objects as ko
from tests.functional.executor_support import (
    BUDGET_NS,
    Harness,
    Reply,
    action,
    alert,
    proposal,
    ref,
)


def concurrently(h: Harness, proposals: list[tuple[PlanProposed, str]]) -> list[Reply]:
    """Deliver each (proposal, event id) on its own thread and client, all released at once."""
    clients = [h.new_client() for _ in proposals]
    barrier = threading.Barrier(len(proposals))
    replies: list[Any] = [None] * len(proposals)

    def deliver(i: int) -> None:
        p, eid = proposals[i]
        barrier.wait(timeout=10)
        replies[i] = h.propose(p, event_id=eid, client=clients[i])

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(proposals))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(isinstance(r, Reply) for r in replies), replies
    return replies


def outcomes(replies: list[Reply]) -> Counter[str]:
    assert all(r.type == ACTION_COMPLETED for r in replies), [r.body for r in replies]
    return Counter(x.outcome for r in replies for x in r.data.results)  # type: ignore[union-attr]


def entries(h: Harness) -> list[dict]:
    return [e for lease in h.api.objects("Lease", BUDGET_NS) for e in json.loads(
        lease["metadata"]["annotations"]["orchestrator.io/budget-entries"])]


def restart_plan(pod: str, plan_id: str = "plan-1", fingerprint: str = "f00dfeed12345678",
                 alertname: str = "KubePodCrashLooping") -> PlanProposed:
    return proposal(alert({"namespace": "shop", "pod": pod}, fingerprint=fingerprint,
                          alertname=alertname),
                    action("rollout_restart", ref("Deployment", "checkout", "shop")),
                    plan_id=plan_id)


def test_the_same_plan_delivered_three_times_restarts_once(harness: Harness) -> None:
    sc = ko.crashlooping_deployment().load(harness.api)
    generation = harness.api.get("Deployment", "shop", "checkout")["metadata"]["generation"]
    p = restart_plan(sc["pod"]["metadata"]["name"])
    replies = [harness.propose(p, event_id="evt-1") for _ in range(3)]

    assert [x.outcome for r in replies for x in r.data.results] == \
        ["applied", "already-applied", "already-applied"]
    assert len({r.headers["ce-id"] for r in replies}) == 1
    assert harness.api.get("Deployment", "shop", "checkout")["metadata"]["generation"] == \
        generation + 1
    assert len([q for q in harness.writes() if q.method == "PATCH"]) == 1
    assert len([e for e in harness.events("shop") if e["reason"] == "Remediated"]) == 1


def test_the_same_plan_delivered_three_times_at_once_restarts_once(harness: Harness) -> None:
    sc = ko.crashlooping_deployment().load(harness.api)
    generation = harness.api.get("Deployment", "shop", "checkout")["metadata"]["generation"]
    harness.api.delay(r"/deployments/checkout$", 0.3, method="PATCH", times=3)
    p = restart_plan(sc["pod"]["metadata"]["name"])
    replies = concurrently(harness, [(p, "evt-1")] * 3)

    assert outcomes(replies) == Counter({"applied": 1, "already-applied": 2})
    assert harness.api.get("Deployment", "shop", "checkout")["metadata"]["generation"] == \
        generation + 1
    assert [(e["plan"], e["state"]) for e in entries(harness)] == [("plan-1", "applied")]
    assert len([e for e in harness.events("shop") if e["reason"] == "Remediated"]) == 1


def test_two_plans_for_one_deployment_at_once_restart_it_once(harness: Harness) -> None:
    sc = ko.crashlooping_deployment().load(harness.api)
    generation = harness.api.get("Deployment", "shop", "checkout")["metadata"]["generation"]
    harness.api.delay(r"/deployments/checkout$", 0.3, method="PATCH", times=2)
    pod = sc["pod"]["metadata"]["name"]
    crashing = restart_plan(pod, "plan-crash", "1111111111111111", "KubePodCrashLooping")
    not_ready = restart_plan(pod, "plan-ready", "2222222222222222", "KubePodNotReady")
    replies = concurrently(harness, [(crashing, "evt-a"), (not_ready, "evt-b")])

    assert outcomes(replies) == Counter({"applied": 1, "already-applied": 1})
    assert harness.api.get("Deployment", "shop", "checkout")["metadata"]["generation"] == \
        generation + 1
    assert len(entries(harness)) == 1
    assert {r.headers["ce-partitionkey"] for r in replies} == {"shop/Deployment/checkout"}
    skipped = next(x for r in replies for x in r.data.results  # type: ignore[union-attr]
                   if x.outcome == "already-applied")
    assert "not repeated" in skipped.api_result


def test_the_same_eviction_delivered_three_times_at_once_evicts_once(harness: Harness) -> None:
    sc = ko.crashlooping_deployment().load(harness.api)
    harness.api.add(ko.pdb("checkout", "shop", match_labels={"app": "checkout"},
                           disruptions_allowed=5))
    name = sc["pod"]["metadata"]["name"]
    harness.api.delay(r"/eviction$", 0.3, method="POST", times=3)
    p = proposal(alert({"namespace": "shop", "pod": name}),
                 action("delete_pod", ref("Pod", name, "shop")))
    replies = concurrently(harness, [(p, "evt-1")] * 3)

    assert outcomes(replies) == Counter({"applied": 1, "already-applied": 2})
    assert harness.api.get("Pod", "shop", name) is None
    pdb = harness.api.get("PodDisruptionBudget", "shop", "checkout")
    assert pdb["status"]["disruptionsAllowed"] == 4  # one disruption, not three
    assert [(e["plan"], e["state"]) for e in entries(harness)] == [("plan-1", "applied")]
