"""The reads behind one alert: what a responder would look at first, read concurrently.

`Reading` is the engine: it runs reads on a small thread pool, records a read the API refuses
(404: the pod is already gone; 403: RBAC) in `errors` and lets the rest go on, and lets a
`TransientError` (API down, 5xx, timeout) through so the whole delivery is retried. The scopes
(a pod and its owner chain here; nodes, volumes, services, autoscalers and jobs in `scopes.py`)
submit independent reads together and wait only where a read needs an earlier one's answer
(the ReplicaSet's name comes from the pod), so a pod alert costs a bounded number of calls in a
few round trips.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from orchestrator.adapters.kube_errors import KubeError, NotFound
from orchestrator.adapters.kube_reads import KINDS, KubeReads, Listing
from orchestrator.context import LogTail, ObjectRef, PodInfo
from orchestrator.errors import TransientError
from orchestrator.orient import cluster_events
from orchestrator.orient.fields import (
    Json,
    Scrubber,
    controller_of,
    label_selector,
    meta,
    ref_of,
    spec,
)
from orchestrator.orient.logs import tail
from orchestrator.orient.pods import log_worthy, pod_info, trouble
from orchestrator.owners import same_uid

if TYPE_CHECKING:
    from orchestrator.orient.limits import ReadLimits

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_OWNER_DEPTH = 4
_RS_SUFFIX = re.compile(r"^(?P<owner>.+)-[a-z0-9]{5}$")
_STS_SUFFIX = re.compile(r"^(?P<owner>.+)-\d+$")


@dataclass
class Found:
    """Raw objects gathered so far (converted once, at the end, when the HPAs are known)."""

    target: ObjectRef | None = None
    owners: list[ObjectRef] = field(default_factory=list)
    pods: list[PodInfo] = field(default_factory=list)
    workloads: list[tuple[Json, list[Json]]] = field(default_factory=list)
    nodes: dict[str, tuple[Json, list[str]]] = field(default_factory=dict)
    pvcs: list[Json] = field(default_factory=list)
    hpas: list[Json] = field(default_factory=list)
    jobs: list[tuple[Json, list[Json]]] = field(default_factory=list)
    cronjobs: list[tuple[Json, list[Json]]] = field(default_factory=list)
    services: list[tuple[Json, list[Json]]] = field(default_factory=list)
    logs: list[LogTail] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)


class Reading:
    """One alert's reads: submitted to a pool, refusals recorded, transient failures raised."""

    def __init__(self, *, reads: KubeReads, pool: Executor, limits: ReadLimits,
                 scrub: Scrubber) -> None:
        self.reads = reads
        self.pool = pool
        self.limits = limits
        self.scrub = scrub
        self.found = Found()
        self._events: dict[str, Future[Listing]] = {}
        self._logs: list[tuple[str, str, str, bool, Future[str]]] = []
        self._nodes: dict[str, Future[Json]] = {}

    # ---- the engine ---------------------------------------------------------------------------

    def later(self, fn: Callable[..., T], *args: object, **kwargs: object) -> Future[T]:
        return self.pool.submit(fn, *args, **kwargs)

    def value(self, future: Future[T], *, missing_ok: bool = False) -> T | None:
        """The read's result; None when the API refused it (recorded, but a 404 is not when
        `missing_ok`: the read was a guess)."""
        try:
            return future.result()
        except NotFound as e:
            if not missing_ok:
                self.record(e)
            return None
        except KubeError as e:
            self.record(e)
            return None

    def record(self, e: KubeError) -> None:
        text = self.scrub.text(str(e), "errors") or ""
        log.info("read refused: %s", text)
        self.found.errors.append(text)

    def get(self, kind: str, namespace: str | None, name: str) -> Future[Json]:
        return self.later(self.reads.get, kind, namespace, name)

    def listing(self, kind: str, namespace: str | None, **query: object) -> Future[Listing]:
        return self.later(self.reads.list, kind, namespace, **query)

    def items(self, future: Future[Listing], what: str) -> list[Json]:
        listing = self.value(future)
        if listing is None:
            return []
        if listing.truncated:
            self.found.cut.append(f"{what}: only the first {len(listing.items)} listed")
        return listing.items

    def events_of(self, kind: str, namespace: str | None, name: str) -> None:
        if self.limits.max_events <= 0:
            return  # not wanted (the executor's fact reads): not even read
        key = f"{kind}/{namespace}/{name}"
        if key not in self._events:
            self._events[key] = self.listing(
                "Event", namespace, field_selector=cluster_events.field_selector(kind, name),
                limit=250)

    def read(self, ref: ObjectRef) -> Future[Json]:
        """Start reading an object and its Events, together."""
        future = self.get(ref.kind, ref.namespace, ref.name)
        self.events_of(ref.kind, ref.namespace, ref.name)
        return future

    def target(self, ref: ObjectRef, future: Future[Json], *, weak: bool = False) -> Json | None:
        """The alerted object, which becomes the context's target: as the labels named it when
        it cannot be read, unless they only hinted at it (`weak`: a 404 is not recorded)."""
        obj = self.value(future, missing_ok=weak)
        if obj is not None:
            self.found.target = ref_of(obj, ref.kind)
        elif not weak:
            self.found.target = ref
        return obj

    def target_beside(self, ref: ObjectRef, kind: str,
                      **query: object) -> tuple[Json | None, Future[Listing]]:
        """The alerted object (as `target`), read beside a listing of `kind` in its namespace
        (its pods, its Jobs, the HPAs that may scale it), which is left running."""
        future = self.read(ref)
        listing = self.listing(kind, ref.namespace, **query)
        return self.target(ref, future), listing

    def node(self, name: str | None) -> None:
        if name and name not in self._nodes:
            self._nodes[name] = self.get("Node", None, name)

    # ---- pods ---------------------------------------------------------------------------------

    def describe(self, pod: Json, *, focus: bool, container: str | None = None) -> PodInfo:
        """Add a pod; a focus pod also gets its node, its Events and its log tails."""
        info = pod_info(pod, self.scrub)
        self.found.pods.append(info)
        if focus:
            ns, name = info.ref.namespace or "", info.ref.name
            self.node(info.node)
            self.events_of("Pod", ns, name)
            if self.limits.log_tail_lines <= 0:
                return info  # no log wanted: none read
            for ctr, previous in log_worthy(info, container):
                self._logs.append((ns, name, ctr, previous, self.later(
                    self.reads.logs, ns, name, ctr, previous=previous,
                    tail_lines=self.limits.log_tail_lines,
                    limit_bytes=self.limits.log_limit_bytes)))
        return info

    def pods(self, pods: list[Json], *, what: str, container: str | None = None,
             unhealthy_only: bool = False, focus: bool = True) -> PodInfo | None:
        """Describe a set of pods, worst first, at most `max_pods`; the worst is the focus
        (unless `focus` is off), and is returned."""
        ranked = sorted(pods, key=trouble, reverse=True)
        if unhealthy_only:
            ranked = [p for p in ranked if trouble(p) > (0, 0, 0)]
        kept = ranked[: self.limits.max_pods]
        if len(ranked) > len(kept):
            self.found.cut.append(f"{what}: {len(ranked) - len(kept)} more pods not described")
        chosen = None
        for n, raw in enumerate(kept):
            info = self.describe(raw, focus=focus and n == 0, container=container)
            chosen = chosen or (info if focus else None)
        return chosen

    def pod(self, ref: ObjectRef, container: str | None) -> None:
        """A pod alert: the pod, its Events, logs and node, and its owner chain."""
        pod, hpas_f = self.target_beside(ref, "HorizontalPodAutoscaler", limit=100)
        if pod is None:
            guess = owner_from_name(ref)
            if guess is not None:
                self.found.cut.append(f"Pod {ref.key} not found: owners guessed from its name")
                self.chain(guess, optional=True)
        else:
            self.describe(pod, focus=True, container=container)
            self.chain(controller_of(pod))
        self.found.hpas += self.items(hpas_f, f"HPAs in {ref.namespace}")

    # ---- owners -------------------------------------------------------------------------------

    def chain(self, owner: ObjectRef | None, *, optional: bool = False,
              as_owners: bool = True) -> None:
        """Walk the controller chain up (ReplicaSet → Deployment, Job → CronJob). Owners are
        matched by API group and kind (`controller_of`) and uid (`orchestrator.owners`)."""
        depth = 0
        while owner is not None and depth < MAX_OWNER_DEPTH:
            depth += 1
            if owner.kind not in KINDS:
                # A custom controller (an Argo Rollout, a KubeVirt VM): named, not read.
                if as_owners:
                    self.found.owners.append(owner)
                return
            obj_f = self.get(owner.kind, owner.namespace, owner.name)
            if not optional:  # beside the get, saving a round trip, unless the owner is a guess
                self.events_of(owner.kind, owner.namespace, owner.name)
            obj = self.value(obj_f, missing_ok=optional)
            if obj is not None:
                self.events_of(owner.kind, owner.namespace, owner.name)
            if obj is None:
                if as_owners and not optional:
                    self.found.owners.append(owner)
                return
            if not same_uid(owner.uid, obj):
                # Deleted and recreated under its name: not this object's owner any more.
                self.found.errors.append(f"{owner.key} (uid {owner.uid}) is not the object of "
                                         "that name now (recreated): not read as an owner")
                if as_owners:
                    self.found.owners.append(owner)
                return
            if as_owners:
                self.found.owners.append(owner.model_copy(update={"uid": meta(obj).get("uid")}))
            self.owner_detail(obj)
            owner = controller_of(obj)
            optional = False

    def owner_detail(self, obj: Json) -> None:
        kind, ns, name = obj.get("kind"), meta(obj).get("namespace"), meta(obj).get("name")
        if kind == "Deployment":
            rs_f = self.listing("ReplicaSet", ns, label_selector=label_selector(
                spec(obj).get("selector")), limit=100)
            self.found.workloads.append((obj, self.items(rs_f, f"ReplicaSets of {name}")))
        elif kind in ("StatefulSet", "DaemonSet", "ReplicaSet"):
            self.found.workloads.append((obj, []))
        elif kind == "Job":
            pods_f = self.listing("Pod", ns, label_selector=f"job-name={name}", limit=100)
            self.found.jobs.append((obj, self.items(pods_f, f"pods of Job {name}")))
        elif kind == "CronJob":
            jobs_f = self.listing("Job", ns, limit=200)
            from orchestrator.orient.workloads import owned_jobs

            jobs = owned_jobs(self.items(jobs_f, f"Jobs in {ns}"), meta(obj).get("uid"))
            self.found.cronjobs.append((obj, jobs))

    # ---- the end ------------------------------------------------------------------------------

    def finish(self) -> tuple[Found, list[Json], list[Json]]:
        """Wait for the outstanding reads; (found, raw Events, nodes without a pod list)."""
        raw_events: list[Json] = []
        for listing_f in self._events.values():
            listing = self.value(listing_f)
            if listing is not None:
                raw_events += listing.items
        for ns, pod, ctr, previous, text_f in self._logs:
            try:
                text = self.value(text_f)
            except TransientError as e:
                # Logs come from the node's kubelet through the API server: a 5xx here is that
                # kubelet (a NotReady node), not the API being down. Record it, go on.
                self.found.errors.append(self.scrub.text(str(e), "errors") or "")
                continue
            if text is not None:
                self.found.logs.append(tail(
                    text, namespace=ns, pod=pod, container=ctr, previous=previous,
                    scrub=self.scrub, max_lines=self.limits.log_tail_lines,
                    max_line_chars=self.limits.log_line_chars,
                    limit_bytes=self.limits.log_limit_bytes))
        nodes = []
        for name, node_f in self._nodes.items():
            if name in self.found.nodes:
                continue
            node = self.value(node_f)
            if node is not None:
                nodes.append(node)
        return self.found, raw_events, nodes


def owner_from_name(pod: ObjectRef) -> ObjectRef | None:
    """The likely controller of a pod that is gone, from the way controllers name pods.

    `checkout-7d9f8b6c5-x2k4q` is ReplicaSet `checkout-7d9f8b6c5`'s; `postgres-0` is
    StatefulSet `postgres`'s. A guess: reading it may 404, which then records nothing.
    """
    if (m := _RS_SUFFIX.match(pod.name)) and "-" in m["owner"]:
        return ObjectRef(kind="ReplicaSet", name=m["owner"], namespace=pod.namespace)
    if m := _STS_SUFFIX.match(pod.name):
        return ObjectRef(kind="StatefulSet", name=m["owner"], namespace=pod.namespace)
    return None
