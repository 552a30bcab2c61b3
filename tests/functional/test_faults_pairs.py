"""Two faults at once, through the real stack: the pairs of fault_cases_support.PAIRS (both
fallbacks together, a blocked router with a failing model, a dead letter whose sink is down too, a
full disk with a slow API, a killed agent behind a failing API). Same checks as test_faults.py: nothing
accepted is lost, no action runs twice, the system is whole again once both are healed.
"""

from __future__ import annotations

import pytest

from tests.functional.fault_cases_support import (
    PAIRS,
    Fault,
    Row,
    run_case,
    slug,
)
from tests.functional.fault_support import Rig

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("faults", PAIRS, ids=[slug(" and ".join(f.name for f in p))
                                               for p in PAIRS])
def test_two_faults_together(rig: Rig, rows: list[Row], faults: tuple[Fault, ...]) -> None:
    if any(f.needs_disk for f in faults) and rig.disk is None:
        pytest.skip("filling the broker's disk needs a tmpfs, which only root can mount")
    row = run_case(rig, faults, tag=slug("-".join(f.name.split()[0] for f in faults)))
    rows.append(row)
    assert row.problems == [], row
