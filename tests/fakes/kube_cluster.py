"""Moved to :mod:`orchestrator.sim.cluster_objects` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_cluster`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.cluster_objects import (  # noqa: F401 - re-exported
    JSON,
    Age,
    event,
    hpa,
    lease,
    namespace,
    node,
    pdb,
    pvc,
    unreachable_taints,
)
