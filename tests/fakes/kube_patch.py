"""Moved to :mod:`orchestrator.sim.patch` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_patch`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.patch import (  # noqa: F401 - re-exported
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)
