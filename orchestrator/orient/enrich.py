"""From an alert to its `ClusterContext`: resolve the target, read, convert, redact.

Without a cluster the context says only what the labels say (`available=False`, source
"none"): the loop still runs, and the agent knows that nothing was verified on a cluster.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from orchestrator.adapters.kube import Source
from orchestrator.adapters.kube_reads import KubeReads
from orchestrator.context import ClusterContext, HPAInfo, ObjectRef
from orchestrator.events import Alert
from orchestrator.orient import cluster_events, scopes
from orchestrator.orient.fields import Json, Scrubber, meta
from orchestrator.orient.gather import Found, Reading
from orchestrator.orient.nodes import node_info, pvc_info, service_info
from orchestrator.orient.targets import resolve
from orchestrator.orient.workloads import (
    cronjob_info,
    hpa_info,
    job_info,
    revisions,
    workload_info,
)

if TYPE_CHECKING:
    from orchestrator.orient.limits import ReadLimits

log = logging.getLogger(__name__)


def enrich(*, alert: Alert, reads: KubeReads | None, source: Source, limits: ReadLimits,
           threads: int = 6, scrub: Scrubber, problem: str | None = None) -> ClusterContext:
    """The alert's context, complete (not yet cut to the byte cap)."""
    target = resolve(alert.labels)
    if reads is None or source == "none":
        errors = [f"no cluster connection: {problem}"] if problem else []
        return ClusterContext(available=False, source="none", cluster=alert.cluster,
                              target=target.ref, errors=errors)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="router-read")
    try:
        reading = Reading(reads=reads, pool=pool, limits=limits, scrub=scrub)
        scopes.gather(reading, target)
        found, raw_events, extra_nodes = reading.finish()
    finally:
        # On a TransientError, reads still queued are pointless: the delivery will be retried.
        pool.shutdown(wait=True, cancel_futures=True)
    if target.ref is None and found.target is None and target.note:
        log.info("no target: %s", target.note)
    return assemble(found, raw_events, extra_nodes, source=source, cluster=alert.cluster,
                    scrub=scrub, limits=limits)


def assemble(found: Found, raw_events: list[Json], extra_nodes: list[Json], *, source: Source,
             cluster: str | None, scrub: Scrubber, limits: ReadLimits) -> ClusterContext:
    hpas = [hpa_info(h, scrub) for h in found.hpas]
    workloads = [workload_info(obj, scrub, hpas=hpas,
                               revisions=revisions(rs, meta(obj).get("uid"),
                                                   limits.max_revisions))
                 for obj, rs in found.workloads]
    chain = [r for r in (found.target, *found.owners) if r is not None]
    chain += [w.ref for w in workloads]
    hpas = [h for h in hpas if _relevant(h, chain)]
    nodes = [node_info(obj, scrub, pods) for obj, pods in found.nodes.values()]
    nodes += [node_info(obj, scrub) for obj in extra_nodes]
    events, dropped = cluster_events.fold(raw_events, scrub, keep=limits.max_events)
    cut = list(found.cut)
    if dropped:
        cut.append(f"events: {dropped} older distinct events not kept")
    return ClusterContext(
        available=True,
        source=source,
        cluster=cluster,
        target=found.target,
        owners=found.owners,
        pods=found.pods,
        workloads=workloads,
        nodes=nodes,
        pvcs=[pvc_info(p, scrub) for p in found.pvcs],
        hpas=hpas,
        jobs=[job_info(j, scrub, pods) for j, pods in found.jobs],
        cronjobs=[cronjob_info(cj, jobs) for cj, jobs in found.cronjobs],
        services=[service_info(svc, pods) for svc, pods in found.services],
        events=events,
        logs=found.logs,
        cut=cut,
        errors=found.errors,
    )


def _relevant(h: HPAInfo, chain: list[ObjectRef]) -> bool:
    """An HPA of the namespace matters when it is the target or scales one of its objects."""
    for ref in chain:
        if h.ref.name == ref.name and ref.kind == "HorizontalPodAutoscaler":
            return True
        t = h.scale_target
        if t is not None and (t.kind, t.name) == (ref.kind, ref.name):
            return True
    return False


def redact_alert(alert: Alert, scrub: Scrubber) -> Alert:
    """The alert with secrets removed from its annotations and generator URL (labels are the
    incident's identity and the executor's cluster check, so they are left as they are)."""
    annotations = scrub.mapping(alert.annotations, "alert annotations")
    url = scrub.text(alert.generator_url, "alert generatorURL", limit=4000) or ""
    if annotations == alert.annotations and url == alert.generator_url:
        return alert
    return alert.model_copy(update={"annotations": annotations, "generator_url": url})
