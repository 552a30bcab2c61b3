"""Moved to :mod:`orchestrator.sim.watch` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_watch`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.watch import (  # noqa: F401 - re-exported
    JSON,
    Expired,
    expired_event,
    watch_event,
)
