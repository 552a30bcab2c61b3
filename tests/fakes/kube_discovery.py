"""Moved to :mod:`orchestrator.sim.discovery` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_discovery`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.discovery import (  # noqa: F401 - re-exported
    JSON,
    VERSION_INFO,
    discovery,
    resource_list,
)
