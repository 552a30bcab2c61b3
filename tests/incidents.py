"""Enriched incidents shaped like what the router sends: the agent's test inputs.

Each builder returns a `ContextEnriched` for one realistic situation (a crash-looping Deployment
replica, a NotReady node, a failed CronJob run, an alert read without a cluster), with the knobs
the runbooks' predicates turn on exposed as keyword arguments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.context import (
    ClusterContext,
    Condition,
    ContainerInfo,
    JobInfo,
    NodeInfo,
    ObjectRef,
    PodInfo,
    Revision,
    WorkloadInfo,
)
from orchestrator.decide.facts import compute
from orchestrator.decide.situation import Situation
from orchestrator.events import Alert, ContextEnriched
from orchestrator.ids import incident_key
from orchestrator.ingest.alertmanager import parse_webhook
from orchestrator.knowledge.hits import Hit
from orchestrator.knowledge.runbook import Runbook, load_folder
from orchestrator.resources import runbooks_dir
from tests.conftest import load_event

# Ages are relative to the real clock: the agent under test reads it too.
NOW = datetime.now(UTC).replace(microsecond=0)
NS = "payments"
POD = ObjectRef(kind="Pod", name="checkout-7d9f8b6c5-x2k4q", namespace=NS, uid="uid-pod")
RS = ObjectRef(kind="ReplicaSet", name="checkout-7d9f8b6c5", namespace=NS, uid="uid-rs")
DEPLOY = ObjectRef(kind="Deployment", name="checkout", namespace=NS, uid="uid-deploy")
NODE = ObjectRef(kind="Node", name="worker-3", uid="uid-node")


def recorded_alert(name: str = "alertmanager_crashloop", **labels: str) -> Alert:
    alert = parse_webhook(load_event(name)).alerts[0]
    if labels:
        alert = alert.model_copy(update={"labels": {**alert.labels, **labels}})
    return alert


def make_alert(labels: dict[str, str], *, annotations: dict[str, str] | None = None,
               fingerprint: str = "0123456789abcdef",
               starts_at: datetime = NOW - timedelta(minutes=10)) -> Alert:
    return Alert(status="firing", labels=labels, annotations=annotations or {},
                 starts_at=starts_at, fingerprint=fingerprint)


def enriched(alert: Alert, context: ClusterContext) -> ContextEnriched:
    key = incident_key(alert.fingerprint, alert.starts_at, alert.cluster)
    return ContextEnriched(incident_key=key, alert=alert, context=context)


def crashloop(*, last_reason: str = "Error", restarts: int = 7, revision_age_min: float = 600,
              revisions: int = 2, available: int = 2, gitops: bool = False,
              paused: bool = False, alert: Alert | None = None,
              live: bool = True) -> ContextEnriched:
    """KubePodCrashLooping on one replica of payments/checkout (the recorded alert)."""
    container = ContainerInfo(
        name="checkout", image="registry.example.com/checkout:1.42.0", ready=False,
        restart_count=restarts, state="waiting", reason="CrashLoopBackOff",
        message="back-off 5m0s restarting failed container", last_state="terminated",
        last_reason=last_reason, last_exit_code=137 if last_reason == "OOMKilled" else 1,
        last_finished_at=NOW - timedelta(minutes=2), limits={"memory": "512Mi", "cpu": "1"},
        requests={"memory": "256Mi", "cpu": "250m"})
    sidecar = ContainerInfo(name="envoy", image="envoyproxy/envoy:v1.30", ready=True,
                            state="running")
    pod = PodInfo(ref=POD, phase="Running", node=NODE.name, ready=False,
                  created_at=NOW - timedelta(hours=3), containers=[sidecar, container],
                  owner=RS, conditions=[Condition(type="Ready", status="False",
                                                  reason="ContainersNotReady")])
    revs = [Revision(name=f"checkout-rev{i}", revision=i, replicas=3 if i == revisions else 0,
                     created_at=NOW - timedelta(minutes=revision_age_min + 60 * (revisions - i)))
            for i in range(1, revisions + 1)]
    labels: dict[str, Any] = {"app": "checkout"}
    annotations: dict[str, str] = {}
    if gitops:
        labels["argocd.argoproj.io/instance"] = "checkout-prod"
    workload = WorkloadInfo(
        ref=DEPLOY, desired_replicas=3, ready_replicas=available, available_replicas=available,
        updated_replicas=3, generation=7, observed_generation=7, paused=paused,
        conditions=[Condition(type="Available", status="True" if available else "False"),
                    Condition(type="Progressing", status="True",
                              reason="NewReplicaSetAvailable")],
        revisions=revs, labels=labels, annotations=annotations)
    node = NodeInfo(ref=NODE, ready="True", conditions=[Condition(type="Ready", status="True")],
                    pods=[POD.name])
    ctx = ClusterContext(available=live, source="kubeconfig" if live else "none", target=POD,
                         owners=[RS, DEPLOY], pods=[pod], workloads=[workload], nodes=[node])
    return enriched(alert or recorded_alert(), ctx)


def node_not_ready(*, ready: str = "False", unschedulable: bool = False) -> ContextEnriched:
    alert = make_alert({"alertname": "KubeNodeNotReady", "node": NODE.name,
                        "severity": "warning"},
                       annotations={"summary": "Node is not ready."},
                       fingerprint="feedc0de00000001")
    node = NodeInfo(ref=NODE, ready=ready, unschedulable=unschedulable,
                    conditions=[Condition(type="Ready", status=ready, reason="KubeletNotReady"),
                                Condition(type="DiskPressure", status="False")],
                    pods=["a", "b"])
    return enriched(alert, ClusterContext(available=True, source="kubeconfig", target=NODE,
                                          nodes=[node]))


def failed_cronjob_run(*, owned_by_cronjob: bool = True, active: int = 0) -> ContextEnriched:
    job = ObjectRef(kind="Job", name="nightly-report-29012345", namespace="batch", uid="uid-job")
    cron = ObjectRef(kind="CronJob", name="nightly-report", namespace="batch", uid="uid-cron")
    alert = make_alert({"alertname": "KubeJobFailed", "namespace": "batch",
                        "job_name": job.name, "severity": "warning"},
                       annotations={"summary": "Job failed to complete."},
                       fingerprint="feedc0de00000002")
    info = JobInfo(ref=job, failed=4, succeeded=0, active=active, backoff_limit=3,
                   conditions=[Condition(type="Failed", status="True",
                                         reason="BackoffLimitExceeded")],
                   owner=cron if owned_by_cronjob else None)
    return enriched(alert, ClusterContext(available=True, source="kubeconfig", target=job,
                                          owners=[cron] if owned_by_cronjob else [],
                                          jobs=[info]))


def without_cluster(alert: Alert | None = None) -> ContextEnriched:
    """What the router sends when no cluster is reachable: the alert's labels only."""
    return enriched(alert or recorded_alert(), ClusterContext(available=False, source="none",
                                                             target=POD))


def packaged_runbooks() -> dict[str, Runbook]:
    return {rb.id: rb for rb in load_folder(runbooks_dir())}


def situation(ev: ContextEnriched, *ranked: tuple[str, float],
              runbooks: dict[str, Runbook] | None = None) -> Situation:
    """The planners' view of `ev`, as if retrieval ranked these (runbook id, score) pairs."""
    books = runbooks or packaged_runbooks()
    hits = [Hit(runbook=rid, score=score, heading="What it means",
                retriever="exact" if score == 1.0 else "bm25",
                chunk_id=f"{rid}#what-it-means", text="") for rid, score in ranked]
    return Situation(incident_key=ev.incident_key, plan_id="plan-under-test", alert=ev.alert,
                     context=ev.context, facts=compute(ev.alert, ev.context, now=NOW),
                     hits=hits, runbooks={rid: books[rid] for rid, _ in ranked}, now=NOW)
