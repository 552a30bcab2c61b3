"""Moved to :mod:`orchestrator.sim.logs` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_logs`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.logs import (  # noqa: F401 - re-exported
    read_log,
)
