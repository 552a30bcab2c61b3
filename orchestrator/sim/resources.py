"""Resource registry of the simulated kube-apiserver: the types it serves and how names resolve."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .errors import JSON, ApiError


def rfc3339(when: dt.datetime | None = None) -> str:
    when = when or dt.datetime.now(dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    has_status: bool = True  # has a /status subresource: the main endpoint ignores status
    has_generation: bool = False
    return_deleted: bool = False  # DELETE answers the object instead of a Status
    subresources: tuple[str, ...] = ("status",)
    default_status: JSON = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Qualified resource, as in messages: ``pods``, ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def details(self, name: str, **extra: Any) -> JSON:
        out: JSON = {"name": name}
        if self.group:
            out["group"] = self.group
        out["kind"] = self.plural
        out.update(extra)
        return out

    def not_found(self, name: str) -> ApiError:
        return ApiError(404, "NotFound", f'{self.key} "{name}" not found', self.details(name))


_SCALABLE = ("status", "scale")
RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "pods", "Pod", short_names=("po",), return_deleted=True,
                 subresources=("status", "log", "eviction"), default_status={"phase": "Pending"}),
    ResourceType("", "v1", "nodes", "Node", namespaced=False, short_names=("no",)),
    ResourceType("", "v1", "events", "Event", short_names=("ev",), has_status=False,
                 subresources=()),
    ResourceType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",),
                 default_status={"phase": "Pending"}),
    ResourceType("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False,
                 short_names=("pv",), default_status={"phase": "Pending"}),
    ResourceType("", "v1", "services", "Service", short_names=("svc",), return_deleted=True,
                 default_status={"loadBalancer": {}}),
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",),
                 return_deleted=True, default_status={"phase": "Active"}),
    ResourceType("", "v1", "secrets", "Secret", has_status=False, subresources=()),
    ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",), has_status=False,
                 subresources=()),
    ResourceType("apps", "v1", "deployments", "Deployment", short_names=("deploy",),
                 subresources=_SCALABLE, has_generation=True),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",),
                 subresources=_SCALABLE, default_status={"replicas": 0}, has_generation=True),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",),
                 subresources=_SCALABLE, default_status={"replicas": 0, "availableReplicas": 0},
                 has_generation=True),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), default_status={
        "currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0,
        "numberReady": 0}, has_generation=True),
    ResourceType("batch", "v1", "jobs", "Job", has_generation=True),
    ResourceType("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), has_generation=True),
    ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
                 short_names=("hpa",), default_status={"currentReplicas": 0, "desiredReplicas": 0},
                 has_generation=True),
    ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget",
                 short_names=("pdb",), default_status={
                     "currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
                     "expectedPods": 0}, has_generation=True),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", has_status=False,
                 subresources=()),
    ResourceType("events.k8s.io", "v1", "events", "Event", short_names=("ev",), has_status=False,
                 subresources=()),
)
GROUP_VERSIONS: dict[str, list[ResourceType]] = {}
for _rt in RESOURCES:
    GROUP_VERSIONS.setdefault(_rt.api_version, []).append(_rt)

PODS = RESOURCES[0]
PDBS = next(r for r in RESOURCES if r.plural == "poddisruptionbudgets")


def resolve(kind: str | ResourceType) -> ResourceType:
    """``"Pod"``, ``"pods"``, ``"po"``, ``"deployments.apps"``, ``"apps/v1/Deployment"``...

    A bare ``"Event"`` means core/v1; use ``"events.k8s.io/v1/Event"`` for the other one.
    """
    if isinstance(kind, ResourceType):
        return kind
    if "/" in kind:
        api_version, _, k = kind.rpartition("/")
        for rt in RESOURCES:
            if rt.api_version == api_version and k in (rt.kind, rt.plural):
                return rt
    low = kind.lower()
    for rt in RESOURCES:  # core comes first, so "Event" resolves to core/v1
        if low in (rt.kind.lower(), rt.plural, rt.key, *rt.short_names):
            return rt
    raise KeyError(f"simulated kube-apiserver does not serve {kind!r}")


def resource_for(api_version: str, kind: str) -> ResourceType:
    for rt in GROUP_VERSIONS.get(api_version, []):
        if rt.kind == kind:
            return rt
    raise KeyError(f"simulated kube-apiserver does not serve {api_version}/{kind}")
