"""The runbook follows what the cluster shows: `shows` against the packaged runbooks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from orchestrator.context import ClusterContext, Condition, KubeEvent, PodInfo
from orchestrator.decide.evidence import contradiction, follow_cluster, redirect
from orchestrator.decide.facts import compute
from orchestrator.decide.offline import plan_offline
from orchestrator.events import Alert, ContextEnriched
from orchestrator.knowledge.runbook import RunbookError, parse_runbook
from orchestrator.plan import Plan
from tests import incidents as inc

BOOKS = inc.packaged_runbooks()
CATALOG = list(BOOKS.values())


def not_ready_alert() -> Alert:
    return inc.recorded_alert(alertname="KubePodNotReady")


def pending(*, with_event: bool = True, condition: bool = False) -> ContextEnriched:
    """A Pending pod the scheduler could not place, under a not-ready alert."""
    conditions = [Condition(type="PodScheduled", status="False", reason="Unschedulable")] \
        if condition else []
    pod = PodInfo(ref=inc.POD, phase="Pending", ready=False, owner=inc.RS,
                  created_at=inc.NOW - timedelta(minutes=30), conditions=conditions)
    events = [KubeEvent(object=f"Pod/{inc.POD.name}", type="Warning", reason="FailedScheduling",
                        message="0/2 nodes are available: 2 Insufficient cpu.", count=4)] \
        if with_event else []
    ctx = ClusterContext(available=True, source="kubeconfig", target=inc.POD,
                         owners=[inc.RS, inc.DEPLOY], pods=[pod], events=events)
    return inc.enriched(not_ready_alert(), ctx)


def follow(ev: ContextEnriched, top: str) -> tuple[list[str], str]:
    facts = compute(ev.alert, ev.context, now=inc.NOW)
    s = inc.situation(ev, (top, 1.0), ("k8s_image_pull", 0.4))
    hits, runbooks, _ = follow_cluster(s.hits, s.runbooks, CATALOG, facts)
    assert list(runbooks) == list(dict.fromkeys(h.runbook for h in hits))
    return [h.runbook for h in hits], hits[0].retriever


def test_a_not_ready_alert_on_a_crash_looping_pod_follows_the_crashloop_runbook() -> None:
    ev = inc.crashloop(alert=not_ready_alert(), revision_age_min=10)
    order, how = follow(ev, "k8s_pod_not_ready")
    assert order[0] == "k8s_crashloop" and how == "cluster"
    assert "k8s_pod_not_ready" in order  # still shown, below
    facts = compute(ev.alert, ev.context, now=inc.NOW)
    hits, runbooks, found = follow_cluster(
        inc.situation(ev, ("k8s_pod_not_ready", 1.0)).hits,
        {"k8s_pod_not_ready": BOOKS["k8s_pod_not_ready"]}, CATALOG, facts)
    assert found is not None and "container.state eq 'running'" in found.why
    assert hits[0].score == 1.0  # the alert's own match strength carries over
    s = inc.situation(ev, ("k8s_pod_not_ready", 1.0))
    plan = plan_offline(replace(s, hits=hits, runbooks=runbooks))
    assert isinstance(plan, Plan)
    assert plan.citations[0].runbook == "k8s_crashloop"
    assert [a.type for a in plan.actions] == ["rollback"]


def test_a_pending_pod_with_failed_scheduling_follows_the_pending_runbook() -> None:
    for ev in (pending(), pending(with_event=False, condition=True)):
        order, how = follow(ev, "k8s_pod_not_ready")
        assert (order[0], how) == ("k8s_pod_pending", "cluster")


def test_a_pending_pod_without_a_scheduler_verdict_is_not_redirected() -> None:
    """Pending for another reason (image pull, volumes): the pending runbook's state does not
    hold, nothing else does either, so the alert's runbook stays and its predicates decide."""
    ev = pending(with_event=False)
    order, how = follow(ev, "k8s_pod_not_ready")
    assert (order[0], how) == ("k8s_pod_not_ready", "exact")


def test_agreement_keeps_the_exact_match() -> None:
    ev = inc.crashloop()
    assert follow(ev, "k8s_crashloop")[0][0] == "k8s_crashloop"
    assert contradiction(BOOKS["k8s_crashloop"], compute(ev.alert, ev.context, now=inc.NOW)) \
        is None
    oom = inc.crashloop(last_reason="OOMKilled",
                        alert=inc.recorded_alert(alertname="KubeContainerOOMKilled"))
    assert follow(oom, "k8s_oomkilled")[0][0] == "k8s_oomkilled"


def test_a_cluster_that_shows_nothing_changes_nothing() -> None:
    ev = inc.without_cluster(not_ready_alert())
    assert follow(ev, "k8s_pod_not_ready")[0][0] == "k8s_pod_not_ready"
    # context read, but the pod is gone: its facts are unknown, not contradicting
    gone = inc.enriched(not_ready_alert(), ClusterContext(available=True, source="kubeconfig",
                                                          target=inc.POD))
    assert follow(gone, "k8s_pod_not_ready")[0][0] == "k8s_pod_not_ready"


def test_retrieval_that_abstained_stays_abstained() -> None:
    ev = inc.crashloop(alert=not_ready_alert())
    facts = compute(ev.alert, ev.context, now=inc.NOW)
    assert follow_cluster([], {}, CATALOG, facts) == ([], {}, None)


def test_two_equally_specific_states_are_not_a_choice() -> None:
    """A crash loop whose last exit was an OOM kill shows both the crash-loop and the OOM state:
    under a not-ready alert neither is picked, the alert's runbook stays (and escalates)."""
    ev = inc.crashloop(last_reason="OOMKilled", alert=not_ready_alert())
    facts = compute(ev.alert, ev.context, now=inc.NOW)
    assert contradiction(BOOKS["k8s_pod_not_ready"], facts) is not None
    assert redirect(BOOKS["k8s_pod_not_ready"], CATALOG, facts) is None


def test_the_more_specific_state_wins() -> None:
    narrow = parse_runbook(
        "---\nid: crash_after_rollout\ntitle: t\nalerts: [X]\nactions: []\nshows:\n"
        "  - {fact: container.waiting_reason, op: eq, value: CrashLoopBackOff}\n"
        "  - {fact: container.last_termination_reason, op: eq, value: Error}\n---\nbody\n",
        path="crash_after_rollout.md")
    ev = inc.crashloop(alert=not_ready_alert())
    facts = compute(ev.alert, ev.context, now=inc.NOW)
    found = redirect(BOOKS["k8s_pod_not_ready"], [*CATALOG, narrow], facts)
    assert found is not None and found.shown.id == "crash_after_rollout"


def test_shows_is_parsed_and_checked() -> None:
    assert [p.fact for p in BOOKS["k8s_pod_pending"].shows] == ["pod.phase", "pod.unschedulable"]
    with pytest.raises(RunbookError, match="shows"):
        parse_runbook("---\nid: x\ntitle: t\nshows:\n  - {fact: pod.phase, op: eq}\n---\nb\n",
                      path="x.md")
