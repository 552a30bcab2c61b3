"""Where the Kubernetes API serves each kind the orchestrator touches: one table for every port.

The router's reads (`kube_reads`) and the executor's writes (`kube_writes`) each serve a subset
of these kinds, named by `serving(...)`; the core asks this table whether a kind is namespaced
and which API group a built-in kind belongs to (`owners.is_known`), and which alert label names
which kind (`OBJECT_LABELS`, kube-state-metrics' convention), so a kind is described once.
Modelled on kopf's `Resource`: a kind's group, version and plural, and `path()` for one object,
a collection, or a subresource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.errors import PermanentError


@dataclass(frozen=True)
class Resource:
    """Where the API serves one kind (`group` "" for the core API)."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        """The REST prefix: `/api/v1`, `/apis/apps/v1`."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """The URL path of one object (`name`), of its `subresource`, or of the collection
        (no name; a namespaced kind without a namespace: the collection across all of them)."""
        parts = [self.prefix]
        if self.namespaced and namespace:
            parts += ["namespaces", _segment(namespace)]
        elif self.namespaced and name is not None:
            raise PermanentError(f"{self.plural} are namespaced: a namespace is required")
        parts.append(self.plural)
        if name is not None:
            parts.append(_segment(name))
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)


def _segment(value: str) -> str:
    """One path segment, percent-encoded: a name from an alert's labels (`web-0?dryRun=All`,
    `../../nodes/n1`) stays one segment of one object's path, never a query or another path."""
    if value in ("", ".", ".."):
        raise PermanentError(f"{value!r} is not an object name")
    from urllib.parse import quote

    return quote(value, safe="")


RESOURCES: dict[str, Resource] = {
    "Pod": Resource("", "v1", "pods"),
    "Node": Resource("", "v1", "nodes", namespaced=False),
    "Namespace": Resource("", "v1", "namespaces", namespaced=False),
    "Event": Resource("", "v1", "events"),
    "PersistentVolumeClaim": Resource("", "v1", "persistentvolumeclaims"),
    "Service": Resource("", "v1", "services"),
    "Deployment": Resource("apps", "v1", "deployments"),
    "StatefulSet": Resource("apps", "v1", "statefulsets"),
    "DaemonSet": Resource("apps", "v1", "daemonsets"),
    "ReplicaSet": Resource("apps", "v1", "replicasets"),
    "Job": Resource("batch", "v1", "jobs"),
    "CronJob": Resource("batch", "v1", "cronjobs"),
    "HorizontalPodAutoscaler": Resource("autoscaling", "v2", "horizontalpodautoscalers"),
    "Lease": Resource("coordination.k8s.io", "v1", "leases"),
}


# Label → kind, strongest first, as kube-state-metrics and the kube-prometheus alerts name
# them; the one cluster-scoped kind (a node) last. `job` is the Prometheus scrape job, not a
# Kubernetes Job: that one is `job_name`. The router's `orient/targets` and the executor's
# `act/targets` both read this one.
OBJECT_LABELS: tuple[tuple[str, str], ...] = (
    ("pod", "Pod"),
    ("deployment", "Deployment"),
    ("statefulset", "StatefulSet"),
    ("daemonset", "DaemonSet"),
    ("replicaset", "ReplicaSet"),
    ("job_name", "Job"),
    ("cronjob", "CronJob"),
    ("horizontalpodautoscaler", "HorizontalPodAutoscaler"),
    ("persistentvolumeclaim", "PersistentVolumeClaim"),
    ("node", "Node"),
)


def serving(*kinds: str) -> dict[str, Resource]:
    """The part of the table one port serves (its RBAC grants exactly these)."""
    return {kind: RESOURCES[kind] for kind in kinds}


def resource_of(kinds: Mapping[str, Resource], kind: str, *, who: str) -> Resource:
    """`kind`'s resource among those `who` serves; a PermanentError for any other kind."""
    try:
        return kinds[kind]
    except KeyError:
        raise PermanentError(f"{who} does not handle {kind!r} objects") from None


def namespaced(kind: str) -> bool:
    """Whether objects of `kind` live in a namespace (an unknown kind is assumed to)."""
    found = RESOURCES.get(kind)
    return found.namespaced if found is not None else True


def prefixes(kinds: Mapping[str, Resource]) -> dict[str, str]:
    """kind → REST prefix, what `owners.is_known` matches an owner reference's group against."""
    return {kind: r.prefix for kind, r in kinds.items()}
