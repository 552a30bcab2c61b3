"""Controllers of the simulated cluster: they move state the way Kubernetes does, so an action
the executor takes has the consequences it would have on a real cluster.

- Deployment: its template picks (or creates) the ReplicaSet of that template; a template that
  matches an older ReplicaSet (a rollback, `kubectl rollout undo`) makes that one the newest
  revision again; the current ReplicaSet is scaled to the Deployment's replicas, the others to 0
  (the rollout is immediate: no surge steps); status and conditions are derived from the pods.
- ReplicaSet: as many pods as it wants, so an evicted pod is replaced by a new one.
- Job: a failed pod is retried until `backoffLimit`, then the Job is Failed.
- HorizontalPodAutoscaler: current replicas follow its target.
Cordons need no controller: the scheduler (`kubelet.pick_node`) reads `spec.unschedulable`.

`reconcile()` runs every controller once under the store's lock and says how many writes it
made; `start()` runs it on a thread after every change until `stop()`.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from .faults import Fault
from .kubelet import start_pod
from .pods import JSON, cond, name_suffix
from .resources import resolve
from .store import Store
from .workloads import deploy_age

DEPLOYMENTS, REPLICASETS, PODS = resolve("Deployment"), resolve("ReplicaSet"), resolve("Pod")
JOBS, HPAS = resolve("Job"), resolve("HorizontalPodAutoscaler")
REVISION = "deployment.kubernetes.io/revision"


def owned_by(obj: JSON, owner: JSON) -> bool:
    uid = owner["metadata"]["uid"]
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def revision(obj: JSON) -> int:
    return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)


def bare_template(rs: JSON) -> JSON:
    tpl: JSON = copy.deepcopy(rs["spec"]["template"])
    (tpl.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return tpl


def pod_ready(pod: JSON) -> bool:
    st = pod.get("status") or {}
    return st.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])


class Controllers:
    """The controllers of one simulated cluster, driven by one fault."""

    def __init__(self, store: Store, fault: Fault | None = None, *,
                 pod_age: float = 3600) -> None:
        self.store, self.fault = store, fault or Fault()
        self.pod_age = pod_age  # age of the pods present when the scenario starts
        self.starting = True  # pods started now are the scenario's starting pods
        self._started: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []

    # ---- driving -----------------------------------------------------------------------------

    def reconcile(self) -> int:
        with self.store.lock:
            writes = sum(self._deployment(d) for d in self.store.objects(DEPLOYMENTS))
            writes += sum(self._replicaset(rs) for rs in self.store.objects(REPLICASETS))
            writes += sum(self._job(j) for j in self.store.objects(JOBS))
            writes += sum(self._hpa(h) for h in self.store.objects(HPAS))
            return writes

    def settle(self, rounds: int = 50) -> None:
        """Reconcile until nothing changes (bounded: a controller bug must not spin)."""
        for _ in range(rounds):
            if not self.reconcile():
                return
        raise RuntimeError("the simulated controllers did not settle")

    def begin(self) -> None:
        """The scenario's starting state is built: from now on, pods are replacements."""
        self.settle()
        self.starting = False

    def start(self) -> Controllers:
        self._thread = threading.Thread(target=self._run, name="sim-controllers", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set() and not self.store.closed:
            try:
                with self.store.lock:  # no change may slip between settling and waiting
                    self.settle()
                    seen = self.store.resource_version
            except Exception as exc:  # noqa: BLE001 - kept for the caller to report
                self.errors.append(exc)
                return
            self.store.wait_for_change(seen, 0.5)

    # ---- helpers -----------------------------------------------------------------------------

    def _put(self, obj: JSON) -> None:
        rt = resolve(obj["kind"])
        meta = obj["metadata"]
        self.store.update(rt, meta.get("namespace"), meta["name"], obj, check_rv=False,
                          mode="all")

    def _index(self, owner: JSON) -> int:
        uid = owner["metadata"]["uid"]
        self._started[uid] = self._started.get(uid, 0) + 1
        return self._started[uid] - 1

    def _start(self, owner: JSON) -> None:
        # A starting pod is as old as the scenario says, but never older than its owner.
        age = min(self.pod_age, deploy_age(owner).total_seconds()) if self.starting else 0
        start_pod(self.store, owner, self.fault, starting=self.starting,
                  index=self._index(owner), age=max(age, 0),
                  seed=self._started.get(owner["metadata"]["uid"], 0))

    def _pods(self, owner: JSON) -> list[JSON]:
        return [p for p in self.store.objects(PODS, owner["metadata"]["namespace"])
                if owned_by(p, owner) and not p["metadata"].get("deletionTimestamp")]

    # ---- Deployment --------------------------------------------------------------------------

    def _deployment(self, d: JSON) -> int:
        ns, writes = d["metadata"]["namespace"], 0
        owned = [rs for rs in self.store.objects(REPLICASETS, ns) if owned_by(rs, d)]
        top = max((revision(rs) for rs in owned), default=0)
        tpl = d["spec"]["template"]
        current = next((rs for rs in owned if bare_template(rs) == tpl), None)
        if current is None:
            current = self.store.create(REPLICASETS, ns, self._new_rs(d, top + 1),
                                        from_api=False)
            owned.append(current)
            writes += 1
        elif revision(current) != top:  # rolled back: the old template is the newest revision
            current = copy.deepcopy(current)
            current["metadata"]["annotations"][REVISION] = str(top + 1)
            self._put(current)
            writes += 1
        want = int(d["spec"].get("replicas", 1))
        for rs in owned:
            target = want if rs["metadata"]["uid"] == current["metadata"]["uid"] else 0
            if rs["spec"]["replicas"] != target:
                body = copy.deepcopy(self.store.must_get(REPLICASETS, ns, rs["metadata"]["name"]))
                body["spec"]["replicas"] = target
                self._put(body)
                writes += 1
        return writes + self._deployment_status(d, owned, current, want)

    def _new_rs(self, d: JSON, rev: int) -> JSON:
        tpl = copy.deepcopy(d["spec"]["template"])
        pth = name_suffix(d["metadata"]["uid"], rev, repr(tpl), length=10)
        tpl["metadata"].setdefault("labels", {})["pod-template-hash"] = pth
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pth
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": d["metadata"]["name"],
               "uid": d["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
        return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": f"{d['metadata']['name']}-{pth}", "namespace": d["metadata"]["namespace"],
            "labels": dict(tpl["metadata"]["labels"]), "ownerReferences": [ref],
            "annotations": {REVISION: str(rev)}, "generation": 1},
            "spec": {"replicas": 0, "selector": selector, "template": tpl},
            "status": {"replicas": 0, "observedGeneration": 1}}

    def _deployment_status(self, d: JSON, owned: list[JSON], current: JSON, want: int) -> int:
        pods = [p for rs in owned for p in self._pods(rs)]
        updated = self._pods(current)
        ready = sum(pod_ready(p) for p in pods)
        done = ready >= want and len(updated) == want == len(pods)
        if done:
            progressing = cond("Progressing", True, "NewReplicaSetAvailable",
                               f'ReplicaSet "{current["metadata"]["name"]}" has successfully '
                               "progressed.", age=0)
        elif self.fault.progress_deadline_exceeded:
            progressing = cond("Progressing", False, "ProgressDeadlineExceeded",
                               f'ReplicaSet "{current["metadata"]["name"]}" has timed out '
                               "progressing.", age=0)
        else:
            progressing = cond("Progressing", True, "ReplicaSetUpdated",
                               f'ReplicaSet "{current["metadata"]["name"]}" is progressing.',
                               age=0)
        available = ready >= want
        status: JSON = {
            "observedGeneration": d["metadata"].get("generation", 1), "replicas": len(pods),
            "updatedReplicas": len(updated), "readyReplicas": ready,
            "availableReplicas": ready, "conditions": [
                cond("Available", available, "MinimumReplicasAvailable" if available else
                     "MinimumReplicasUnavailable", "Deployment has minimum availability."
                     if available else "Deployment does not have minimum availability.", age=0),
                progressing]}
        if len(pods) - ready > 0:
            status["unavailableReplicas"] = len(pods) - ready
        return self._set_status(d, status, {REVISION: str(revision(current))})

    def _set_status(self, obj: JSON, status: JSON, annotations: dict[str, str] | None = None
                    ) -> int:
        old = obj.get("status") or {}
        ann = obj["metadata"].get("annotations") or {}
        if _same(old, status) and all(ann.get(k) == v for k, v in (annotations or {}).items()):
            return 0
        body = copy.deepcopy(obj)
        body["status"] = _keep_times(old, status)
        if annotations:
            body["metadata"].setdefault("annotations", {}).update(annotations)
        self._put(body)
        return 1

    # ---- ReplicaSet --------------------------------------------------------------------------

    def _replicaset(self, rs: JSON) -> int:
        pods, want, writes = self._pods(rs), int(rs["spec"].get("replicas", 0)), 0
        for _ in range(want - len(pods)):
            self._start(rs)
            writes += 1
        for extra in sorted(pods, key=pod_ready)[:max(len(pods) - want, 0)]:
            self.store.delete(PODS, extra["metadata"]["namespace"], extra["metadata"]["name"],
                              {"gracePeriodSeconds": 0})
            writes += 1
        pods = self._pods(rs)
        ready = sum(pod_ready(p) for p in pods)
        return writes + self._set_status(rs, {
            "replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
            "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)})

    # ---- Job ---------------------------------------------------------------------------------

    def _job(self, job: JSON) -> int:
        st = job.get("status") or {}
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in st.get("conditions") or []):
            return 0
        pods = self._pods(job)
        phases = [(p.get("status") or {}).get("phase") for p in pods]
        failed, succeeded = phases.count("Failed"), phases.count("Succeeded")
        active = len(pods) - failed - succeeded
        limit = int(job["spec"].get("backoffLimit", 6))
        status: JSON = {**st, "active": active, "failed": failed, "succeeded": succeeded}
        if succeeded >= int(job["spec"].get("completions", 1)):
            status["conditions"] = [cond("Complete", True, age=0)]
        elif failed > limit:
            status["conditions"] = [cond("Failed", True, "BackoffLimitExceeded",
                                         "Job has reached the specified backoff limit", age=0)]
        elif active == 0:
            self._start(job)  # a retry: the next pod of the Job
            return 1
        return self._set_status(job, status)

    # ---- HPA ---------------------------------------------------------------------------------

    def _hpa(self, hpa: JSON) -> int:
        ref = hpa["spec"].get("scaleTargetRef") or {}
        target = self.store.get(resolve(ref.get("kind", "Deployment")),
                                hpa["metadata"]["namespace"], ref.get("name", ""))
        if target is None:
            return 0
        current = int((target.get("spec") or {}).get("replicas", 1))
        st = dict(hpa.get("status") or {})
        if st.get("currentReplicas") == current:
            return 0
        st["currentReplicas"] = current
        st["desiredReplicas"] = max(int(st.get("desiredReplicas") or current), current)
        return self._set_status(hpa, st)


def _same(old: JSON, new: JSON) -> bool:
    return bool(_strip_times(old) == _strip_times(new))


def _strip_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_times(v) for k, v in value.items()
                if k not in ("lastTransitionTime", "lastUpdateTime", "lastProbeTime")}
    if isinstance(value, list):
        return [_strip_times(v) for v in value]
    return value


def _keep_times(old: JSON, new: JSON) -> JSON:
    """Conditions that did not change keep their transition times, as the real controllers do."""
    before = {c.get("type"): c for c in old.get("conditions") or []}
    conds = []
    for c in new.get("conditions") or []:
        prev = before.get(c.get("type"))
        conds.append(prev if prev is not None and _same(prev, c) else c)
    if "conditions" in new:
        new = {**new, "conditions": conds}
    return new
