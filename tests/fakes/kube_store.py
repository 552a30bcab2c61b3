"""Moved to :mod:`orchestrator.sim.store` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_store`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.store import (  # noqa: F401 - re-exported
    JSON,
    Change,
    Store,
    check_preconditions,
    conflict,
)
