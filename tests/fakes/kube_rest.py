"""Moved to :mod:`orchestrator.sim.rest` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_rest`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.rest import (  # noqa: F401 - re-exported
    JSON,
    PATCH_TYPES,
    dispatch,
)
