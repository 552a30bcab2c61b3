"""Moved to :mod:`orchestrator.sim.server` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_http`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.server import (  # noqa: F401 - re-exported
    REASONS,
    Delay,
    Fault,
    Handler,
    RecordedRequest,
    Server,
    T,
    wait_until,
)
