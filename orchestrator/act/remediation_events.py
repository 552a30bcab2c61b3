"""Kubernetes Events on the objects the executor acted on (or refused to), for `kubectl describe`.

An on-call engineer looking at a Deployment should see "Remediated: rollout_restart by plan …"
next to the scheduler's and kubelet's events, without knowing this system exists. Event names
are derived from the plan, so a redelivered plan does not add a second Event. An Event that
cannot be written is logged, never a reason to fail or repeat the action it describes.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Literal

from orchestrator.adapters.kube_errors import Conflict
from orchestrator.adapters.kube_writes import KubeWrites
from orchestrator.context import ObjectRef
from orchestrator.errors import OrchestratorError

log = logging.getLogger(__name__)

Reason = Literal["Remediated", "RemediationFailed", "RemediationRefused"]
COMPONENT = "incident-orchestrator"
MAX_MESSAGE = 1024
API_VERSIONS = {
    "Pod": "v1", "Node": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1",
}


def event_name(target: ObjectRef, plan_id: str, index: int, reason: Reason) -> str:
    digest = hashlib.sha256(f"{plan_id}\x00{index}\x00{reason}".encode()).hexdigest()[:16]
    return f"{target.name[:200]}.{digest}"


def record(kube: KubeWrites, *, target: ObjectRef, reason: Reason, message: str, action: str,
           plan_id: str, incident_key: str, index: int, instance: str,
           now: datetime) -> None:
    """Create one Event on `target` (cluster-scoped targets: in `default`, as kubelet does)."""
    namespace = target.namespace or "default"
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    involved = {"apiVersion": API_VERSIONS.get(target.kind, "v1"), "kind": target.kind,
                "name": target.name}
    if target.namespace:
        involved["namespace"] = target.namespace
    if target.uid:
        involved["uid"] = target.uid
    body: dict[str, object] = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": event_name(target, plan_id, index, reason), "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": COMPONENT},
                     "annotations": {"orchestrator.io/plan": plan_id,
                                     "orchestrator.io/incident": incident_key}},
        "involvedObject": involved,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "type": "Normal" if reason == "Remediated" else "Warning",
        "action": action,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance[:128],
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    try:
        kube.create("Event", namespace, body)
    except Conflict:
        log.info("event on %s already recorded (redelivery)", target.key)
    except OrchestratorError as e:
        log.warning("could not record %s event on %s: %s", reason, target.key, e)
