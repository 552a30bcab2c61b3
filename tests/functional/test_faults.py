"""Each fault alone, through the real stack (local broker + five function processes): Qdrant,
MinIO, Gemini (429, 500, hanging), the Kubernetes API (500, timing out, down past the broker's
retry budget), the broker's disk full, and the agent killed mid-request.

For each: every alert ingest accepted ends in a plan, an escalation or a dead letter saying why;
no action runs twice (exactly one write per workload on the fake cluster); and once the
dependency is back the system is whole again on its own (dead letters are redelivered, as an
operator would). The cases live in fault_cases_support.py; the rows also go to artifacts/faults.md.
"""

from __future__ import annotations

import pytest

from tests.functional.fault_cases_support import (
    SINGLES,
    Fault,
    Row,
    run_case,
    slug,
)
from tests.functional.fault_support import Rig

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("fault", SINGLES, ids=[slug(f.name) for f in SINGLES])
def test_fault_alone(rig: Rig, rows: list[Row], fault: Fault) -> None:
    if fault.needs_disk and rig.disk is None:
        pytest.skip("filling the broker's disk needs a tmpfs, which only root can mount")
    row = run_case(rig, (fault,), tag=slug(fault.name))
    rows.append(row)
    assert row.problems == [], row
