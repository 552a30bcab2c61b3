"""Moved to :mod:`orchestrator.sim.errors` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_errors`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.errors import (  # noqa: F401 - re-exported
    JSON,
    ApiError,
    bad_request,
)
