"""Moved to :mod:`orchestrator.sim.selectors` (the simulated cluster is product code); this shim
keeps ``tests.fakes.kube_selectors`` importable until every branch imports the new home."""

from __future__ import annotations

from orchestrator.sim.selectors import (  # noqa: F401 - re-exported
    JSON,
    SUPPORTED_FIELDS,
    Matcher,
    label_selector_to_string,
    match_label_selector_object,
    parse_field_selector,
    parse_label_selector,
)
