"""Workloads and autoscalers: rollout status, revision history, and who else manages them;
Jobs and CronJobs: how many pods failed, against which backoff limit, and the run history.

"Who else manages it" decides what the executor may do: scaling a Deployment an HPA owns is
undone within a minute, and a rollback of one Argo CD or Flux syncs is undone by the next sync.
So `managed_by` lists every controller the object's metadata gives away: `hpa` (an HPA scales
it), `argocd`, `flux`, and `helm` (informational: Helm does not revert drift).
"""

from __future__ import annotations

from orchestrator.context import CronJobInfo, HPAInfo, JobInfo, ObjectRef, Revision, WorkloadInfo
from orchestrator.gitops import ARGO, FLUX, gitops_tools
from orchestrator.orient.fields import (
    Json,
    Scrubber,
    conditions,
    controller_of,
    created,
    describe,
    integer,
    meta,
    owned_by,
    ref_of,
    spec,
    status,
    when,
)

REVISION = "deployment.kubernetes.io/revision"


def workload_info(obj: Json, scrub: Scrubber, *, revisions: list[Revision] | None = None,
                  hpas: list[HPAInfo] | None = None) -> WorkloadInfo:
    kind = str(obj.get("kind"))
    where = describe(obj)
    sp, st, m = spec(obj), status(obj), meta(obj)
    ref = ref_of(obj, kind)
    if kind == "DaemonSet":
        desired: int | None = integer(st.get("desiredNumberScheduled"))
        ready, available = integer(st.get("numberReady")), integer(st.get("numberAvailable"))
        updated = integer(st.get("updatedNumberScheduled"))
    else:
        desired = integer(sp.get("replicas"), 1)
        ready, available = integer(st.get("readyReplicas")), integer(st.get("availableReplicas"))
        updated = integer(st.get("updatedReplicas"), ready if kind == "ReplicaSet" else 0)
    labels = m.get("labels") or {}
    annotations = m.get("annotations") or {}
    return WorkloadInfo(
        ref=ref,
        desired_replicas=desired,
        ready_replicas=ready,
        available_replicas=available,
        updated_replicas=updated,
        generation=m.get("generation"),
        observed_generation=st.get("observedGeneration"),
        paused=bool(sp.get("paused")),
        conditions=conditions(st.get("conditions"), scrub, where),
        revisions=revisions or [],
        managed_by=managed_by(obj, ref, hpas or []),
        labels=scrub.mapping(labels, f"{where} labels"),
        annotations=scrub.mapping(annotations, f"{where} annotations"),
    )


def managed_by(obj: Json, ref: ObjectRef, hpas: list[HPAInfo]) -> list[str]:
    m = meta(obj)
    found: list[str] = []
    if any(_scales(h, ref) for h in hpas):
        found.append("hpa")
    tools = gitops_tools(m)  # the executor's own check reads the same marks
    found += [name for tool, name in ((ARGO, "argocd"), (FLUX, "flux")) if tool in tools]
    if str((m.get("labels") or {}).get("app.kubernetes.io/managed-by", "")).lower() == "helm":
        found.append("helm")
    return found


def _scales(h: HPAInfo, ref: ObjectRef) -> bool:
    t = h.scale_target
    return t is not None and t.kind == ref.kind and t.name == ref.name and \
        (t.namespace or None) == (ref.namespace or None)


def revisions(replicasets: list[Json], owner_uid: str | None, keep: int) -> list[Revision]:
    """A Deployment's ReplicaSets as its revision history, newest first."""
    out = []
    for rs in replicasets:
        if owner_uid and not owned_by(rs, owner_uid):
            continue
        annotations = meta(rs).get("annotations") or {}
        try:
            number = int(annotations.get(REVISION, "0"))
        except ValueError:
            number = 0
        containers = (spec(rs).get("template") or {}).get("spec", {}).get("containers") or []
        out.append(Revision(
            name=str(meta(rs).get("name")), revision=number,
            created_at=when(meta(rs).get("creationTimestamp")),
            replicas=integer(status(rs).get("replicas")),
            ready_replicas=integer(status(rs).get("readyReplicas")),
            images=[str(c.get("image")) for c in containers if isinstance(c, dict)]))
    out.sort(key=lambda r: r.revision, reverse=True)
    return out[:keep]


def hpa_info(obj: Json, scrub: Scrubber) -> HPAInfo:
    sp, st = spec(obj), status(obj)
    target = sp.get("scaleTargetRef") or {}
    ns = meta(obj).get("namespace") or None
    return HPAInfo(
        ref=ref_of(obj, "HorizontalPodAutoscaler"),
        scale_target=ObjectRef(kind=str(target.get("kind")), name=str(target.get("name")),
                               namespace=ns) if target.get("name") else None,
        min_replicas=sp.get("minReplicas"),
        max_replicas=integer(sp.get("maxReplicas"), 1),
        current_replicas=st.get("currentReplicas"),
        desired_replicas=st.get("desiredReplicas"),
        conditions=conditions(st.get("conditions"), scrub, describe(obj)),
    )


def job_info(job: Json, scrub: Scrubber, pods: list[Json]) -> JobInfo:
    """A Job, with the names of its failed pods (newest first) among `pods`."""
    sp, st = spec(job), status(job)
    failed = [p for p in pods if status(p).get("phase") == "Failed"]
    failed.sort(key=created, reverse=True)
    return JobInfo(
        ref=ref_of(job, "Job"),
        active=integer(st.get("active")),
        succeeded=integer(st.get("succeeded")),
        failed=integer(st.get("failed")),
        completions=sp.get("completions"),
        backoff_limit=sp.get("backoffLimit"),
        conditions=conditions(st.get("conditions"), scrub, describe(job)),
        owner=controller_of(job),
        failed_pods=[str(meta(p).get("name")) for p in failed],
    )


def owned_jobs(jobs: list[Json], cronjob_uid: str | None) -> list[Json]:
    """A CronJob's Jobs, newest first."""
    return sorted((j for j in jobs if owned_by(j, cronjob_uid)), key=created, reverse=True)


def cronjob_info(cj: Json, jobs: list[Json]) -> CronJobInfo:
    sp, st = spec(cj), status(cj)
    return CronJobInfo(
        ref=ref_of(cj, "CronJob"),
        schedule=str(sp.get("schedule") or ""),
        suspend=bool(sp.get("suspend")),
        last_schedule=when(st.get("lastScheduleTime")),
        last_successful=when(st.get("lastSuccessfulTime")),
        active=len(st.get("active") or []),
        jobs=[str(meta(j).get("name")) for j in jobs],
    )
