"""Moved to :mod:`orchestrator.sim.resources` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_resources`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.resources import (  # noqa: F401 - re-exported
    GROUP_VERSIONS,
    JSON,
    PDBS,
    PODS,
    RESOURCES,
    ResourceType,
    resolve,
    resource_for,
    rfc3339,
)
