"""Jobs and CronJobs: how many pods failed, against which backoff limit, and the run history."""

from __future__ import annotations

from orchestrator.context import CronJobInfo, JobInfo
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
