"""Builders of complete Kubernetes objects (as plain dicts) and consistent incident scenarios,
for the fake API server: one import for tests (`from tests.fakes import kube_objects as ko`).

The builders live by kind in kube_pods, kube_workloads and kube_cluster; the scenarios in
kube_scenarios.
"""

from __future__ import annotations

from orchestrator.sim.cluster_objects import (  # noqa: F401 - re-exported
    event,
    hpa,
    lease,
    namespace,
    node,
    pdb,
    pvc,
    unreachable_taints,
)
from orchestrator.sim.pods import (  # noqa: F401 - re-exported
    JSON,
    NAME_CHARS,
    REGISTRY,
    Age,
    cond,
    container,
    container_status,
    digest,
    name_suffix,
    object_meta,
    owner_ref,
    pod,
    ts,
)
from orchestrator.sim.workloads import (  # noqa: F401 - re-exported
    cronjob,
    daemonset,
    deploy_age,
    deployment,
    job,
    pod_for,
    pod_template,
    replicaset,
    statefulset,
)
from tests.fakes.kube_scenarios import (  # noqa: F401 - re-exported
    ALL_SCENARIOS,
    Scenario,
    crashlooping_deployment,
    failed_job,
    heal_pod,
    hpa_at_max,
    image_pull_backoff,
    load,
    notready_node,
    oomkilled_pod,
    pending_unschedulable_pod,
    pvc_near_full,
    roll_out,
    stable_crashlooping_deployment,
)
