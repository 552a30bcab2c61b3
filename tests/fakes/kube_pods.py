"""Moved to :mod:`orchestrator.sim.pods` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_pods`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.pods import (  # noqa: F401 - re-exported
    JSON,
    NAME_CHARS,
    REGISTRY,
    Age,
    cond,
    container,
    container_status,
    digest,
    name_suffix,
    object_meta,
    owner_ref,
    pod,
    ts,
)
