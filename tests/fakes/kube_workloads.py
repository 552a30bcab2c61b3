"""Moved to :mod:`orchestrator.sim.workloads` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_workloads`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.workloads import (  # noqa: F401 - re-exported
    JSON,
    REGISTRY,
    Age,
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
