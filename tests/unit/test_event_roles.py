"""Every type the loop routes has exactly one line in the contract's table (`events.ROLES`): who
may sign it, its phase on the timeline, the status it leaves its incident in. A new type without
one would be unverifiable (no producer) and invisible to the console's status."""

from __future__ import annotations

from orchestrator import events
from orchestrator.console.pages import PHASES
from orchestrator.console.status import STATUSES
from orchestrator.provenance import PRODUCERS


def test_every_routed_type_has_a_role() -> None:
    routed = {v for k, v in vars(events).items() if k.isupper() and isinstance(v, str)
              and v.startswith(events.TYPE_PREFIX) and v not in (events.ALERT_MANUAL,
                                                                  events.TYPE_PREFIX)}
    assert routed == set(events.ROLES)
    assert {t: r.producers for t, r in events.ROLES.items()} == PRODUCERS
    for role in events.ROLES.values():
        assert role.phase in PHASES and role.status in STATUSES and role.producers


def test_the_loop_order_breaks_ties_from_alert_to_resolution() -> None:
    order = list(events.ROLES)
    assert order[0] == events.ALERT_RECEIVED and order[-1] == events.RESOLVED
    assert order.index(events.PLAN_PROPOSED) < order.index(events.APPROVAL_REQUESTED) \
        < order.index(events.PLAN_APPROVED) < order.index(events.ACTION_COMPLETED)
