"""A scenario: a small cluster, one fault, the alert it raises, and what the loop should do.

Scenarios are YAML files, one per file (the packaged ones live in `orchestrator/sim/scenarios/`),
validated here with strict models so a typo is a clear error, not a silently different test.
:class:`SimCluster` builds one on the simulated API server and runs its controllers; the alert
payload is what Alertmanager would post for it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from .api import SimAPI
from .cluster_objects import event, hpa, namespace, node, pdb
from .controllers import Controllers
from .faults import Fault
from .pods import JSON, container, digest
from .rbac import Denial
from .workloads import cronjob, deployment, job, replicaset

REGISTRY = "registry.example.com"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Revision(_Model):
    image: str
    age_minutes: float = 60 * 24 * 30
    memory_limit: str | None = None


class Workload(_Model):
    kind: Literal["Deployment"] = "Deployment"
    name: str
    namespace: str | None = None
    replicas: int = 3
    revisions: list[Revision] = Field(min_length=1)
    annotations: dict[str, str] = {}
    labels: dict[str, str] = {}
    hpa_max: int | None = None
    pdb_min_available: int | None = None
    paused: bool = False
    budget_spent: int = 0
    """Actions the executor already took on this workload in the last hour (its budget Lease):
    at the policy's default of 3, a fourth is refused."""


class JobSpec(_Model):
    name: str
    namespace: str | None = None
    cronjob: str | None = None
    backoff_limit: int = 2
    image: str = f"{REGISTRY}/batch/report:1.0.0"


class NodeSpec(_Model):
    name: str
    ready: bool | Literal["Unknown"] = True
    unschedulable: bool = False


class DenialSpec(_Model):
    verb: str
    resource: str
    namespace: str | None = None


class ClusterSpec(_Model):
    namespace: str = "shop"
    namespace_annotations: dict[str, str] = {}
    nodes: list[NodeSpec] = [NodeSpec(name="worker-1"), NodeSpec(name="worker-2")]
    workloads: list[Workload] = []
    jobs: list[JobSpec] = []
    denials: list[DenialSpec] = []
    pod_age_minutes: float = 60
    events: list[dict[str, str]] = []
    """Extra Events on the target (reason, message): e.g. an injection attempt."""


class AlertSpec(_Model):
    name: str
    target: Literal["pod", "workload", "node", "job", "none"] = "pod"
    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    pod: str | None = None
    """Name the alert's pod outright (e.g. one that is gone); default: the first sick pod."""


class Expect(_Model):
    runbook: str | None = None
    action: str | None = None
    """An action type, or None when the right decision is to do nothing (escalate/resolve)."""
    outcome: Literal["verified", "approval", "escalated", "resolved", "applied"] = "verified"
    approval: bool = False
    verify: bool = False
    escalation: str | None = None
    """When the outcome is `escalated`: the reason the loop must give (`policy`,
    `no-applicable-action`, `verification-failed`...); None accepts any."""
    applied: bool | None = None
    """Whether the action is written to the cluster; default: when the outcome is `verified`
    or `applied` (a cordon that does not make its node Ready is applied and escalated)."""

    @property
    def acts(self) -> bool:
        return self.applied if self.applied is not None else self.outcome in ("verified",
                                                                             "applied")


class Scenario(_Model):
    name: str
    family: str
    description: str
    cluster: ClusterSpec = ClusterSpec()
    fault: Fault = Fault()
    alert: AlertSpec
    expect: Expect
    demo: str | None = None
    """The part this scenario plays in `orchestrator demo` (applied, approval, refused...)."""


def load(path: Path) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Scenario.model_validate(raw)
    except (yaml.YAMLError, ValueError) as exc:
        raise ValueError(f"scenario {path.name}: {exc}") from exc


def packaged_dir() -> Path:
    return Path(__file__).parent / "scenarios"


def load_all(folder: Path | None = None) -> list[Scenario]:
    folder = folder or packaged_dir()
    found = [load(p) for p in sorted(folder.glob("*.yaml"))]
    names = [s.name for s in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"scenario names must be unique: {', '.join(dupes)}")
    return found


# ---- building a scenario on the simulated cluster -------------------------------------------


class SimCluster:
    """One scenario on a running simulated API server, its controllers moving state."""

    def __init__(self, scenario: Scenario, *, api: SimAPI | None = None) -> None:
        """With ``api``, reuse that running server with a fresh store (one server, one
        kubeconfig, for a whole suite); otherwise start one of our own."""
        self.scenario = scenario
        self._own_api = api is None
        self.fault = scenario.fault
        self.api = api if api is not None else SimAPI()
        if api is not None:
            api.reset()
        self.controllers = Controllers(self.api.store, self.fault,
                                       pod_age=scenario.cluster.pod_age_minutes * 60)
        self.objects: dict[str, JSON] = {}

    def __enter__(self) -> SimCluster:
        self.api.start()
        try:
            self._build()
            self.controllers.begin()
            self._annotate()
            self.controllers.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.controllers.stop()
        if self._own_api:
            self.api.stop()
        else:
            self.api.store.close()  # ends the watches still open on this scenario

    def _build(self) -> None:
        c = self.scenario.cluster
        ns_obj = namespace(c.namespace)
        if c.namespace_annotations:
            ns_obj["metadata"]["annotations"] = dict(c.namespace_annotations)
        self.api.add(ns_obj)
        for n in c.nodes:
            self.api.add(node(n.name, ready=n.ready, unschedulable=n.unschedulable))
        for w in c.workloads:
            self._workload(w, w.namespace or c.namespace)
        for j in c.jobs:
            ns = j.namespace or c.namespace
            owner = None
            if j.cronjob:
                owner = self.api.add(cronjob(j.cronjob, ns, image=j.image,
                                             backoff_limit=j.backoff_limit))
            self.objects.setdefault("job", self.api.add(job(
                j.name, ns, owner=owner, image=j.image, backoff_limit=j.backoff_limit)))
        self.api.denials.extend(Denial(d.verb, d.resource, d.namespace) for d in c.denials)

    def _workload(self, w: Workload, ns: str) -> None:
        newest = w.revisions[-1]
        labels = {"app": w.name, **w.labels}
        d = deployment(w.name, ns, replicas=w.replicas, labels=labels,
                       containers=[_container(newest)], revision=len(w.revisions),
                       age=w.revisions[0].age_minutes * 60)
        d["metadata"]["annotations"].update(w.annotations)
        d["spec"]["paused"] = w.paused
        del d["status"]
        d = self.api.add(d)
        for i, rev in enumerate(w.revisions[:-1], start=1):  # history: scaled to zero
            rs = replicaset(d, revision=i, replicas=0, age=rev.age_minutes * 60)
            rs["spec"]["template"]["spec"]["containers"] = [_container(rev)]
            self.api.add(rs)
        # The current revision's ReplicaSet, created at its rollout (the controller scales it).
        self.api.add(replicaset(d, revision=len(w.revisions), replicas=0,
                                age=newest.age_minutes * 60))
        if w.hpa_max is not None:
            self.api.add(hpa(d, min_replicas=min(2, w.hpa_max), max_replicas=w.hpa_max,
                             current_replicas=w.replicas, cpu_current=95))
        if w.pdb_min_available is not None:
            self.api.add(pdb(w.name, ns, match_labels=labels, min_available=w.pdb_min_available,
                             expected_pods=w.replicas))
        if w.budget_spent:
            self.api.add(budget_lease(d, w.budget_spent))
        self.objects.setdefault("workload", d)

    def _annotate(self) -> None:
        """Extra Events the scenario declares, on the alert's object."""
        target = self.target()
        for extra in self.scenario.cluster.events:
            if target is not None:
                self.api.add(event(target, extra.get("reason", "Note"),
                                   extra.get("message", ""), type=extra.get("type", "Warning")))

    # ---- the alert ---------------------------------------------------------------------------

    def sick_pods(self) -> list[JSON]:
        pods = self.api.objects("Pod", self.scenario.cluster.namespace)
        return [p for p in pods if not _healthy(p)] or pods

    def target(self) -> JSON | None:
        a = self.scenario.alert
        if a.target == "pod":
            pods = self.sick_pods()
            return pods[0] if pods else None
        if a.target == "workload":
            return self.objects.get("workload")
        if a.target == "job":
            return self.objects.get("job")
        if a.target == "node":
            nodes = self.api.objects("Node")
            name = self.scenario.fault.node
            return next((n for n in nodes if n["metadata"]["name"] == name), None)
        return None

    def alert_labels(self) -> dict[str, str]:
        a, labels = self.scenario.alert, {"alertname": self.scenario.alert.name,
                                          "severity": "warning"}
        target = self.target()
        ns = self.scenario.cluster.namespace
        if a.target == "pod":
            labels.update(namespace=ns, pod=a.pod or (target or {}).get("metadata", {}).get(
                "name", "gone"), container="app")
        elif a.target == "workload" and target is not None:
            labels.update(namespace=target["metadata"]["namespace"],
                          deployment=target["metadata"]["name"])
        elif a.target == "job" and target is not None:
            labels.update(namespace=target["metadata"]["namespace"],
                          job_name=target["metadata"]["name"])
        elif a.target == "node":
            labels["node"] = self.scenario.fault.node or "worker-1"
        labels.update(a.labels)
        return labels

    def alert_payload(self, *, cluster: str | None = None) -> dict[str, Any]:
        """The Alertmanager webhook (v4) body for this scenario's alert."""
        a = self.scenario.alert
        labels = self.alert_labels()
        if cluster:
            labels.setdefault("cluster", cluster)
        now = dt.datetime.now(dt.UTC)
        starts = (now - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        # A fresh fingerprint per run, so one state folder can score a suite many times.
        fingerprint = digest(self.scenario.name, now.isoformat())[:16]
        alert = {"status": a.status, "labels": labels,
                 "annotations": {"summary": f"{a.name} on {labels.get('pod') or ''}".strip(),
                                 **a.annotations},
                 "startsAt": starts,
                 "endsAt": now.strftime("%Y-%m-%dT%H:%M:%SZ") if a.status == "resolved"
                 else "0001-01-01T00:00:00Z",
                 "generatorURL": "http://prometheus.example.com/graph", "fingerprint": fingerprint}
        common = {k: v for k, v in labels.items() if k in ("alertname", "namespace")}
        return {"version": "4", "groupKey": f"{{}}:{{alertname=\"{a.name}\"}}",
                "truncatedAlerts": 0, "status": a.status, "receiver": "orchestrator",
                "groupLabels": {"alertname": a.name}, "commonLabels": common,
                "commonAnnotations": {}, "externalURL": "http://alertmanager.example.com",
                "alerts": [alert]}


def budget_lease(workload: JSON, spent: int, *, namespace: str = "default") -> JSON:
    """The executor's budget Lease for `workload`, recording `spent` earlier actions (10, 20,
    30... minutes ago: inside the hour's window, past the settle window)."""
    from orchestrator.act.lease_budget import (
        ENTRIES_ANNOTATION,
        LEASE_LABELS,
        TARGET_ANNOTATION,
        Entry,
        lease_name,
    )
    from orchestrator.context import ObjectRef

    meta = workload["metadata"]
    top = ObjectRef(kind=workload["kind"], name=meta["name"],
                    namespace=meta["namespace"], uid=meta["uid"])
    now = dt.datetime.now(dt.UTC)
    entries = [Entry(plan=f"earlier-{i}", incident=f"earlier-{i}", action="rollout_restart",
                     index=0, at=now - dt.timedelta(minutes=10 * (i + 1)), state="applied")
               for i in range(spent)]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {
        "name": lease_name(top), "namespace": namespace, "labels": dict(LEASE_LABELS),
        "annotations": {TARGET_ANNOTATION: top.key, ENTRIES_ANNOTATION: json.dumps(
            [e.model_dump(mode="json") for e in entries], separators=(",", ":"))}},
        "spec": {"holderIdentity": "executor", "leaseDurationSeconds": 3600}}


def _container(rev: Revision) -> JSON:
    limits = {"memory": rev.memory_limit} if rev.memory_limit else None
    return container("app", rev.image, limits=limits)


def _healthy(pod: JSON) -> bool:
    st = pod.get("status") or {}
    return st.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
