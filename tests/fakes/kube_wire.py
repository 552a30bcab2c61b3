"""Moved to :mod:`orchestrator.sim.wire` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_wire`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.wire import (  # noqa: F401 - re-exported
    JSON,
    Request,
    Response,
    WatchRequest,
    error_response,
    json_response,
    not_allowed,
    not_found,
    success_status,
    truthy,
)
