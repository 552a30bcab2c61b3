"""The fact vocabulary of docs/runbook-format.md, computed from enriched contexts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.context import (
    ClusterContext,
    Condition,
    ContainerInfo,
    HPAInfo,
    ObjectRef,
    PodInfo,
    PVCInfo,
    WorkloadInfo,
)
from orchestrator.decide.facts import compute, quantity_bytes
from orchestrator.knowledge.runbook import load_folder
from orchestrator.resources import runbooks_dir
from tests import incidents as inc


def facts_of(ev):  # type: ignore[no-untyped-def]
    return compute(ev.alert, ev.context, now=inc.NOW)


def test_crashlooping_replica() -> None:
    f = facts_of(inc.crashloop())
    assert f["alert.name"] == "KubePodCrashLooping"
    assert f["alert.severity"] == "warning"
    assert f["alert.label.namespace"] == "payments"
    assert f["target.kind"] == "Pod"
    assert f["pod.phase"] == "Running"
    assert f["pod.ready"] is False
    assert f["pod.owned_by_controller"] is True
    assert f["pod.age_minutes"] == 180.0
    # the alert's `container` label picks checkout, not the healthy sidecar listed first
    assert f["container.state"] == "waiting"
    assert f["container.waiting_reason"] == "CrashLoopBackOff"
    assert f["container.last_termination_reason"] == "Error"
    assert f["container.last_exit_code"] == 1
    assert f["container.restart_count"] == 7
    assert f["container.has_memory_limit"] is True
    assert f["owner.kind"] == "Deployment"
    assert f["workload.kind"] == "Deployment"
    assert f["workload.revision_count"] == 2
    assert f["workload.newest_revision_age_minutes"] == 600.0
    assert f["workload.available_replicas"] == 2
    assert f["workload.desired_replicas"] == 3
    assert f["workload.progress_deadline_exceeded"] is False
    assert f["workload.managed_by_gitops"] is False
    assert f["workload.managed_by_hpa"] is False
    assert f["workload.paused"] is False
    assert f["node.ready"] is True
    assert f["node.condition.Ready"] == "True"
    assert f["cluster.available"] is True


def test_worst_container_without_a_container_label() -> None:
    alert = inc.recorded_alert()
    labels = {k: v for k, v in alert.labels.items() if k != "container"}
    f = facts_of(inc.crashloop(alert=alert.model_copy(update={"labels": labels})))
    assert f["container.restart_count"] == 7 and f["container.state"] == "waiting"


def test_container_label_naming_an_unknown_container_falls_back_to_the_worst() -> None:
    f = facts_of(inc.crashloop(alert=inc.recorded_alert(container="gone")))
    assert f["container.waiting_reason"] == "CrashLoopBackOff"


def test_currently_terminated_container_reports_its_current_reason() -> None:
    ev = inc.crashloop()
    pod = ev.context.pods[0]
    oom = pod.containers[1].model_copy(update={"state": "terminated", "reason": "OOMKilled",
                                               "exit_code": 137, "last_reason": "Error"})
    ctx = ev.context.model_copy(update={"pods": [pod.model_copy(
        update={"containers": [pod.containers[0], oom]})]})
    f = compute(ev.alert, ctx, now=inc.NOW)
    assert f["container.last_termination_reason"] == "OOMKilled"
    assert f["container.last_exit_code"] == 137
    assert "container.waiting_reason" not in f


def test_gitops_labels_are_seen_and_need_a_live_cluster() -> None:
    assert facts_of(inc.crashloop(gitops=True))["workload.managed_by_gitops"] is True
    offline = facts_of(inc.crashloop(live=False))
    assert "workload.managed_by_gitops" not in offline
    assert "workload.managed_by_hpa" not in offline


def test_no_cluster_leaves_object_facts_unknown() -> None:
    f = facts_of(inc.without_cluster())
    assert f["cluster.available"] is False
    assert f["alert.name"] == "KubePodCrashLooping"
    assert not any(k.split(".")[0] in ("pod", "container", "workload", "owner", "node")
                   for k in f)


def test_node_alert() -> None:
    f = facts_of(inc.node_not_ready())
    assert f["target.kind"] == "Node"
    assert f["node.ready"] is False
    assert f["node.unschedulable"] is False
    assert f["node.condition.DiskPressure"] == "False"
    assert f["node.pod_count"] == 2


def test_failed_job_of_a_cronjob() -> None:
    f = facts_of(inc.failed_cronjob_run())
    assert (f["job.failed"], f["job.succeeded"], f["job.active"]) == (4, 0, 0)
    assert f["job.complete"] is False
    assert f["job.owned_by_cronjob"] is True
    assert f["owner.kind"] == "CronJob"
    assert facts_of(inc.failed_cronjob_run(owned_by_cronjob=False))["job.owned_by_cronjob"] \
        is False


def test_hpa_at_max_and_stuck_rollout() -> None:
    ev = inc.crashloop()
    w = ev.context.workloads[0].model_copy(update={"conditions": [
        Condition(type="Progressing", status="False", reason="ProgressDeadlineExceeded")]})
    hpa = HPAInfo(ref=ObjectRef(kind="HorizontalPodAutoscaler", name="checkout",
                                namespace="payments"),
                  scale_target=inc.DEPLOY, min_replicas=2, max_replicas=3, current_replicas=3)
    ctx = ev.context.model_copy(update={"workloads": [w], "hpas": [hpa]})
    f = compute(ev.alert, ctx, now=inc.NOW)
    assert f["workload.progress_deadline_exceeded"] is True
    assert f["workload.managed_by_hpa"] is True
    assert (f["hpa.current_replicas"], f["hpa.max_replicas"], f["hpa.at_max"]) == (3, 3, True)


def test_deployment_target_is_its_own_owner() -> None:
    ev = inc.crashloop()
    ctx = ev.context.model_copy(update={"target": inc.DEPLOY, "owners": []})
    f = compute(ev.alert.model_copy(update={"labels": {"alertname": "KubeDeploymentRolloutStuck",
                                                       "namespace": "payments",
                                                       "deployment": "checkout"}}),
                ctx, now=inc.NOW)
    assert f["target.kind"] == "Deployment"
    assert f["owner.kind"] == "Deployment"
    assert f["workload.revision_count"] == 2
    assert "pod.phase" not in f


def test_pvc_capacity() -> None:
    pvc = ObjectRef(kind="PersistentVolumeClaim", name="data-pg-0", namespace="db")
    ctx = ClusterContext(available=True, target=pvc,
                         pvcs=[PVCInfo(ref=pvc, phase="Bound", capacity="10Gi")])
    f = compute(inc.make_alert({"alertname": "KubePersistentVolumeFillingUp"}), ctx, now=inc.NOW)
    assert f["pvc.phase"] == "Bound"
    assert f["pvc.capacity_bytes"] == 10 * 2**30


def test_pod_without_a_controller_and_unschedulable() -> None:
    pod_ref = ObjectRef(kind="Pod", name="debug", namespace="default")
    pod = PodInfo(ref=pod_ref, phase="Pending", created_at=inc.NOW - timedelta(minutes=30),
                  conditions=[Condition(type="PodScheduled", status="False",
                                        reason="Unschedulable")],
                  containers=[ContainerInfo(name="sh", state="waiting",
                                            reason="ContainerCreating")])
    ctx = ClusterContext(available=True, target=pod_ref, pods=[pod])
    f = compute(inc.make_alert({"alertname": "KubePodPending", "pod": "debug"}), ctx, now=inc.NOW)
    assert f["pod.owned_by_controller"] is False
    assert f["pod.unschedulable"] is True
    assert f["pod.age_minutes"] == 30.0
    assert "owner.kind" not in f and "container.last_termination_reason" not in f
    assert "workload.kind" not in f


@pytest.mark.parametrize(("text", "expected"), [
    ("10Gi", 10 * 2**30), ("512Mi", 512 * 2**20), ("1.5Ti", int(1.5 * 2**40)),
    ("500M", 500 * 10**6), ("2k", 2000), ("1024", 1024), ("lots", None), ("", None),
])
def test_quantities(text: str, expected: int | None) -> None:
    assert quantity_bytes(text) == expected


def test_every_fact_the_packaged_runbooks_use_is_computable() -> None:
    # A typo in a runbook's `fact:` (or a fact this module forgot) would silently disable an
    # action forever: unknown facts are false. Each fact must appear for some realistic input.
    scenarios = [inc.crashloop(), inc.crashloop(revision_age_min=20), inc.node_not_ready(),
                 inc.failed_cronjob_run()]
    ev = inc.crashloop()
    scenarios.append(inc.enriched(ev.alert, ev.context.model_copy(update={
        "target": inc.DEPLOY, "owners": [],
        "workloads": [WorkloadInfo(**{**ev.context.workloads[0].model_dump(), "conditions": [
            Condition(type="Progressing", status="False", reason="ProgressDeadlineExceeded")]})],
    })))
    computed = set().union(*(facts_of(s) for s in scenarios))
    used = {p.fact for rb in load_folder(runbooks_dir()) for a in rb.actions for p in a.when}
    assert used, "the packaged runbooks declare no predicates"
    assert used <= computed, f"never computed: {sorted(used - computed)}"
