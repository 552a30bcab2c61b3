"""The offline planner on the packaged runbooks: predicates decide, never the alertname alone."""

from __future__ import annotations

from orchestrator.decide.offline import MODEL, confidence, plan_offline
from orchestrator.decide.situation import Escalation
from orchestrator.knowledge.runbook import parse_runbook
from orchestrator.plan import Plan
from tests import incidents as inc


def planned(result: Plan | Escalation) -> Plan:
    assert isinstance(result, Plan), result
    return result


def escalated(result: Plan | Escalation) -> Escalation:
    assert isinstance(result, Escalation), result
    return result


def test_one_crashing_replica_of_a_stable_deployment_gets_its_pod_replaced() -> None:
    # The runbook lists rollback first; its predicates fail (the revision is 10 h old), so the
    # planner moves on to the next applicable action rather than "the alert's first action".
    plan = planned(plan_offline(inc.situation(inc.crashloop(), ("k8s_crashloop", 1.0))))
    (action,) = plan.actions
    assert action.type == "delete_pod"
    assert action.target == inc.POD
    assert plan.offline is True and plan.model == MODEL
    assert plan.hypothesis.startswith("Offline planner (no LLM)")
    assert "workload.available_replicas gte 1: holds" in plan.hypothesis
    assert plan.citations[0].runbook == "k8s_crashloop"
    assert plan.citations[0].chunk == "k8s_crashloop#what-to-do"
    assert plan.confidence == 0.7
    assert plan.plan_id == "plan-under-test" and plan.fingerprint == "9a3cf2d1b7e04c55"


def test_crashes_right_after_a_rollout_roll_back_the_deployment() -> None:
    s = inc.situation(inc.crashloop(revision_age_min=20), ("k8s_crashloop", 1.0))
    (action,) = planned(plan_offline(s)).actions
    assert action.type == "rollback"
    assert action.target == inc.DEPLOY


def test_no_rollback_of_a_gitops_managed_deployment() -> None:
    s = inc.situation(inc.crashloop(revision_age_min=20, gitops=True), ("k8s_crashloop", 1.0))
    (action,) = planned(plan_offline(s)).actions
    assert action.type == "delete_pod"


def test_every_replica_down_on_an_old_revision_restarts_the_rollout() -> None:
    s = inc.situation(inc.crashloop(available=0), ("k8s_crashloop", 1.0))
    (action,) = planned(plan_offline(s)).actions
    assert action.type == "rollout_restart"
    assert action.target == inc.DEPLOY


def test_oomkilled_on_an_old_revision_is_for_a_human() -> None:
    s = inc.situation(inc.crashloop(last_reason="OOMKilled"), ("k8s_crashloop", 1.0))
    esc = escalated(plan_offline(s))
    assert esc.reason == "no-applicable-action"
    assert "container.last_termination_reason eq 'Error': fails " \
           "(container.last_termination_reason = 'OOMKilled')" in esc.detail


def test_without_a_cluster_nothing_is_known_and_nothing_is_done() -> None:
    esc = escalated(plan_offline(inc.situation(inc.without_cluster(), ("k8s_crashloop", 1.0))))
    assert esc.reason == "no-applicable-action"
    assert "no live cluster context" in esc.detail
    assert "unknown: container.waiting_reason" in esc.detail


def test_no_runbook_escalates() -> None:
    esc = escalated(plan_offline(inc.situation(inc.crashloop())))
    assert esc.reason == "no-runbook"


def test_a_runbook_without_actions_means_a_human_decides() -> None:
    ev = inc.enriched(inc.make_alert({"alertname": "CertManagerCertExpirySoon"}),
                      inc.crashloop().context)
    esc = escalated(plan_offline(inc.situation(ev, ("cert_expiring", 1.0))))
    assert esc.reason == "no-applicable-action"
    assert "allows no automatic action" in esc.detail


def test_only_the_best_ranked_runbook_is_consulted() -> None:
    # k8s_oomkilled allows nothing here; falling through to a weaker match would be guessing.
    s = inc.situation(inc.crashloop(), ("k8s_oomkilled", 0.9), ("k8s_crashloop", 0.4))
    assert escalated(plan_offline(s)).detail.startswith("runbook k8s_oomkilled")


def test_node_not_ready_is_cordoned() -> None:
    (action,) = planned(plan_offline(inc.situation(inc.node_not_ready(),
                                                   ("node_not_ready", 1.0)))).actions
    assert (action.type, action.target) == ("cordon_node", inc.NODE)


def test_already_cordoned_node_is_left_alone() -> None:
    s = inc.situation(inc.node_not_ready(unschedulable=True), ("node_not_ready", 1.0))
    assert escalated(plan_offline(s)).reason == "no-applicable-action"


def test_failed_cronjob_run_is_cleared_but_not_a_standalone_job() -> None:
    plan = planned(plan_offline(inc.situation(inc.failed_cronjob_run(),
                                              ("k8s_job_failed", 1.0))))
    assert [a.type for a in plan.actions] == ["delete_failed_job"]
    assert plan.actions[0].target.name == "nightly-report-29012345"
    s = inc.situation(inc.failed_cronjob_run(owned_by_cronjob=False), ("k8s_job_failed", 1.0))
    assert escalated(plan_offline(s)).reason == "no-applicable-action"


def test_confidence_follows_retrieval_and_stays_below_a_model_plan() -> None:
    assert confidence(1.0) == 0.7
    assert confidence(0.3) == 0.49
    s = inc.situation(inc.crashloop(), ("k8s_crashloop", 0.3))
    assert planned(plan_offline(s)).confidence == 0.49


def test_deterministic() -> None:
    def once() -> Plan:
        return planned(plan_offline(inc.situation(inc.crashloop(), ("k8s_crashloop", 1.0))))
    assert once() == once()


def test_runbook_parameters_and_target_kinds_are_honoured() -> None:
    rb = parse_runbook("""---
id: scale_out
title: Scale out a saturated Deployment
alerts: [Saturated]
actions:
  - type: scale
    risk: medium
    target: owner
    params: {step: 1, max_replicas: 6}
    why: More replicas share the load.
    when:
      - {fact: workload.available_replicas, op: gte, value: 1}
  - type: cordon_node
    risk: medium
    target: owner
    why: A node action aimed at a Deployment must never pass.
    when:
      - {fact: workload.available_replicas, op: gte, value: 1}
---
## What to do
Scale out by one.
""", path="scale_out.md")
    s = inc.situation(inc.crashloop(), ("scale_out", 1.0), runbooks={"scale_out": rb})
    (action,) = planned(plan_offline(s)).actions
    assert action.type == "scale" and action.target == inc.DEPLOY
    assert action.parameters == {"step": 1, "max_replicas": 6}
