"""Closing the loop: did the action heal what it acted on? Watched, never slept on.

For each applied action the router picks what to watch: the workload behind a deleted pod (the
pod itself is gone; its replacement belongs to the same controller), the workload itself for a
restart, rollback or scale, the node for a cordon, and the absence of a deleted Job. It reads
the object once, then follows a Kubernetes watch on it until the object has been healthy for a
settle period (a crash-looping container looks Ready for a moment after every restart) or the
deadline passes. Health is what `kubectl rollout status` checks, plus readiness for pods and
nodes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.adapters.kube_errors import Gone, NotFound
from orchestrator.adapters.kube_reads import KINDS, KubeReads
from orchestrator.context import ObjectRef
from orchestrator.orient.fields import Json, controller_of, integer, meta, spec, status
from orchestrator.orient.gather import owner_from_name
from orchestrator.plan import ActionResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subject:
    """One object to watch, and whether its absence is the healthy state (a deleted Job)."""

    ref: ObjectRef
    gone_is_healthy: bool = False

    def describe(self) -> str:
        return f"{self.ref.kind} {self.ref.namespace + '/' if self.ref.namespace else ''}" \
               f"{self.ref.name}"


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    seen: str
    """What the router last saw, in a line a human can act on."""


def subject_for(result: ActionResult, reads: KubeReads) -> Subject:
    """What to watch after one applied action."""
    target = result.action.target
    if result.action.type == "delete_failed_job":
        return Subject(target, gone_is_healthy=True)
    if result.action.type != "delete_pod":
        return Subject(target)
    try:
        pod: Json | None = reads.get("Pod", target.namespace, target.name)
    except NotFound:
        pod = None
    if pod is not None and target.uid and meta(pod).get("uid") != target.uid:
        # Same name, new pod: a StatefulSet's replacement. Watch it.
        return Subject(target.model_copy(update={"uid": meta(pod).get("uid")}))
    owner = controller_of(pod) if pod is not None else owner_from_name(target)
    top = _top_controller(owner, reads)
    return Subject(top) if top is not None else Subject(target, gone_is_healthy=True)


def _top_controller(owner: ObjectRef | None, reads: KubeReads) -> ObjectRef | None:
    found = None
    for _ in range(3):
        if owner is None or owner.kind not in KINDS:
            break
        try:
            obj = reads.get(owner.kind, owner.namespace, owner.name)
        except NotFound:
            break
        found, owner = owner, controller_of(obj)
    return found


def health(kind: str, obj: Json | None, *, gone_is_healthy: bool = False) -> tuple[bool, str]:
    """(healthy?, what was seen) for one object, or for its absence (None)."""
    if obj is None:
        return gone_is_healthy, "gone"
    st, sp = status(obj), spec(obj)
    fresh = integer(st.get("observedGeneration"), -1) >= integer(meta(obj).get("generation"))
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        want = integer(sp.get("replicas"), 1)
        total, ready = integer(st.get("replicas")), integer(st.get("readyReplicas"))
        available = integer(st.get("availableReplicas"), ready)
        updated = integer(st.get("updatedReplicas"), want if kind == "ReplicaSet" else 0)
        revision_ok = kind != "StatefulSet" or st.get("currentRevision") == st.get(
            "updateRevision")
        ok = fresh and revision_ok and total == updated == ready == available == want
        seen = (f"{available}/{want} available, {ready} ready, {updated} updated, {total} total"
                + ("" if fresh else ", rollout not yet observed"))
        return ok, seen + _conditions(st, ("Available", "Progressing"))
    if kind == "DaemonSet":
        want = integer(st.get("desiredNumberScheduled"))
        ready, available = integer(st.get("numberReady")), integer(st.get("numberAvailable"))
        updated = integer(st.get("updatedNumberScheduled"))
        ok = fresh and ready == available == updated == want
        return ok, f"{available}/{want} available, {ready} ready, {updated} updated"
    if kind == "Pod":
        is_ready = _condition(st, "Ready") == "True"
        restarts = sum(integer(c.get("restartCount")) for c in st.get("containerStatuses") or [])
        waiting = [str(c["state"]["waiting"].get("reason")) for c in
                   st.get("containerStatuses") or [] if (c.get("state") or {}).get("waiting")]
        ok = st.get("phase") == "Running" and is_ready
        seen = f"phase {st.get('phase')}, Ready={_condition(st, 'Ready')}, restarts {restarts}"
        return ok, seen + (f", waiting: {', '.join(waiting)}" if waiting else "")
    if kind == "Node":
        node_ready = _condition(st, "Ready")
        cordoned = ", cordoned" if sp.get("unschedulable") else ""
        return node_ready == "True", f"Ready={node_ready}{cordoned}" + _conditions(
            st, ("MemoryPressure", "DiskPressure", "PIDPressure"), only_true=True)
    if kind == "Job":
        # A Job to be deleted is unhealthy while it exists; any other Job, until it completes.
        ok = not gone_is_healthy and _condition(st, "Complete") == "True"
        return ok, f"still present: active {integer(st.get('active'))}, " \
                   f"failed {integer(st.get('failed'))}"
    return True, "present"


def _restarts(obj: Json | None) -> int:
    if obj is None or obj.get("kind") != "Pod":
        return 0
    return sum(integer(c.get("restartCount")) for c in status(obj).get("containerStatuses") or [])


def watch_until_healthy(reads: KubeReads, subject: Subject, *, deadline: float, settle: float,
                        clock: Callable[[], float] = time.monotonic) -> Verdict:
    """Follow the subject until healthy for `settle` seconds, or until `deadline` (monotonic)."""
    ref = subject.ref
    started = clock()
    obj, rv = _current(reads, ref)
    ok, seen = health(ref.kind, obj, gone_is_healthy=subject.gone_is_healthy)
    since = clock() if ok else None
    restarts = _restarts(obj)
    while True:
        now = clock()
        if since is not None and now - since >= settle:
            return Verdict(True, f"{subject.describe()} healthy: {seen} (after "
                                 f"{since - started:.0f}s, stable for {now - since:.0f}s)")
        if now >= deadline:
            return Verdict(False, f"{subject.describe()} not healthy after "
                                  f"{now - started:.0f}s: {seen}")
        wait = deadline - now if since is None else min(deadline - now, settle - (now - since))
        try:
            for event in reads.watch(ref.kind, ref.namespace, ref.name, resource_version=rv,
                                     timeout_seconds=max(1, math.ceil(wait))):
                rv = str(meta(event.object).get("resourceVersion") or rv)
                if event.type == "BOOKMARK":
                    continue
                obj = None if event.type == "DELETED" else event.object
                ok, seen = health(ref.kind, obj, gone_is_healthy=subject.gone_is_healthy)
                now_restarts = _restarts(obj)
                became_healthy = False
                if not ok or now_restarts > restarts:
                    since = None
                elif since is None:
                    since, became_healthy = clock(), True
                restarts = now_restarts
                # Healthy now: watch again, for the settle period only. Past the deadline: stop.
                if became_healthy or clock() >= deadline:
                    break
        except Gone:
            obj, rv = _current(reads, ref)  # history compacted: read again, watch from there


def _current(reads: KubeReads, ref: ObjectRef) -> tuple[Json | None, str]:
    """The object (None when absent) and the resourceVersion to watch from."""
    listing = reads.list(ref.kind, ref.namespace, field_selector=f"metadata.name={ref.name}",
                         limit=1)
    return (listing.items[0] if listing.items else None), listing.resource_version


def _condition(st: Json, kind: str) -> str | None:
    return next((str(c.get("status")) for c in st.get("conditions") or []
                 if c.get("type") == kind), None)


def _conditions(st: Json, kinds: tuple[str, ...], only_true: bool = False) -> str:
    parts = []
    for c in st.get("conditions") or []:
        if c.get("type") in kinds and (not only_true or c.get("status") == "True"):
            reason = f" ({c['reason']})" if c.get("reason") else ""
            parts.append(f"{c['type']}={c.get('status')}{reason}")
    return f"; {', '.join(parts)}" if parts else ""
