"""What the router gathered about the alerted object: the Kubernetes context of an incident.

These models are part of the event contract (`incident.context.enriched` carries a
`ClusterContext`). They hold names and states, never secret values: env vars appear as their
name and where they come from, and free text (logs, messages) has been redacted before it gets
here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from orchestrator.models import Frozen


class ObjectRef(Frozen):
    """A pointer to one Kubernetes object."""

    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None

    @property
    def key(self) -> str:
        """`namespace/Kind/name` (`_cluster/Kind/name` for cluster-scoped objects)."""
        return f"{self.namespace or '_cluster'}/{self.kind}/{self.name}"


class Condition(Frozen):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_transition: datetime | None = None


class EnvVarSource(Frozen):
    """An environment variable's name and origin; its value is never carried."""

    name: str
    source: Literal["literal", "secret", "configmap", "field", "resource", "unknown"]
    ref: str | None = None


class ContainerInfo(Frozen):
    name: str
    image: str = ""
    ready: bool = False
    restart_count: int = 0
    state: Literal["running", "waiting", "terminated", "unknown"] = "unknown"
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    last_state: Literal["running", "waiting", "terminated"] | None = None
    last_reason: str | None = None
    last_exit_code: int | None = None
    last_finished_at: datetime | None = None
    last_message: str | None = None
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    env: list[EnvVarSource] = []


class PodInfo(Frozen):
    ref: ObjectRef
    phase: str | None = None
    reason: str | None = None
    """The pod's own status reason (`Evicted`, `NodeLost`...), when it has one."""
    message: str | None = None
    node: str | None = None
    ready: bool = False
    created_at: datetime | None = None
    conditions: list[Condition] = []
    containers: list[ContainerInfo] = []
    init_containers: list[ContainerInfo] = []
    owner: ObjectRef | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class Revision(Frozen):
    """One ReplicaSet (or ControllerRevision) of a workload's history."""

    name: str
    revision: int
    created_at: datetime | None = None
    replicas: int = 0
    ready_replicas: int = 0
    images: list[str] = []


class WorkloadInfo(Frozen):
    """A Deployment, StatefulSet, DaemonSet or ReplicaSet."""

    ref: ObjectRef
    desired_replicas: int | None = None
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    generation: int | None = None
    observed_generation: int | None = None
    paused: bool = False
    conditions: list[Condition] = []
    revisions: list[Revision] = []
    managed_by: list[str] = []
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class NodeInfo(Frozen):
    ref: ObjectRef
    ready: str | None = None
    unschedulable: bool = False
    conditions: list[Condition] = []
    taints: list[str] = []
    allocatable: dict[str, str] = {}
    capacity: dict[str, str] = {}
    pods: list[str] = []


class PVCInfo(Frozen):
    ref: ObjectRef
    phase: str | None = None
    capacity: str | None = None
    requested: str | None = None
    storage_class: str | None = None
    volume_name: str | None = None
    conditions: list[Condition] = []


class HPAInfo(Frozen):
    ref: ObjectRef
    scale_target: ObjectRef | None = None
    min_replicas: int | None = None
    max_replicas: int
    current_replicas: int | None = None
    desired_replicas: int | None = None
    conditions: list[Condition] = []


class JobInfo(Frozen):
    ref: ObjectRef
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    completions: int | None = None
    backoff_limit: int | None = None
    conditions: list[Condition] = []
    owner: ObjectRef | None = None
    failed_pods: list[str] = []


class CronJobInfo(Frozen):
    ref: ObjectRef
    schedule: str = ""
    suspend: bool = False
    last_schedule: datetime | None = None
    last_successful: datetime | None = None
    active: int = 0
    jobs: list[str] = []
    """Its Jobs still on the cluster, newest first."""


class ServiceInfo(Frozen):
    ref: ObjectRef
    type: str = "ClusterIP"
    selector: dict[str, str] = {}
    ports: list[str] = []
    pods: list[str] = []
    """The pods its selector matches."""
    ready_pods: int = 0


class KubeEvent(Frozen):
    """A Kubernetes Event, duplicates folded into `count`."""

    object: str
    type: str
    reason: str
    message: str = ""
    count: int = 1
    last_seen: datetime | None = None


class LogTail(Frozen):
    pod: str
    container: str
    previous: bool = False
    lines: list[str] = []
    truncated: bool = False


class MetricSummary(Frozen):
    """One PromQL query over the last minutes, summarized: the alert's own rule or a runbook's."""

    query: str
    origin: Literal["alert-rule", "generator-url", "runbook"]
    series: str = ""
    """The summarized series' labels, `{k="v",...}` (empty for a scalar or a single series)."""
    current: float | None = None
    min: float | None = None
    max: float | None = None
    trend: Literal["rising", "falling", "flat", "unknown"] = "unknown"
    threshold: str | None = None
    """The rule's comparison (`> 5`): the side of it the alert fires on."""
    crossed_at: datetime | None = None
    """When the value last crossed the threshold into the firing side, within the window."""
    points: int = 0
    note: str = ""


class ClusterContext(Frozen):
    """Everything the router read for one alert, bounded and redacted."""

    available: bool = False
    source: Literal["in-cluster", "kubeconfig", "none"] = "none"
    cluster: str | None = None
    """The alert's `cluster` label, so the executor can refuse an alert about another cluster."""
    target: ObjectRef | None = None
    owners: list[ObjectRef] = []
    pods: list[PodInfo] = []
    workloads: list[WorkloadInfo] = []
    nodes: list[NodeInfo] = []
    pvcs: list[PVCInfo] = []
    hpas: list[HPAInfo] = []
    jobs: list[JobInfo] = []
    cronjobs: list[CronJobInfo] = []
    services: list[ServiceInfo] = []
    events: list[KubeEvent] = []
    logs: list[LogTail] = []
    metrics: list[MetricSummary] = []
    """Prometheus evidence, when the router has a Prometheus: see `orient/metrics.py`."""
    redactions: list[str] = []
    cut: list[str] = []
    errors: list[str] = []
