"""LLM token budgets: per incident and per hour across every incident, enforced before a call.

The agent keeps nothing between requests and may run as several replicas, so the hourly spend
lives in the audit store as one create-only object per call, its tokens in the name so that a
listing alone gives the sum (no read per record):

    llm-usage/<YYYYmmddHH>/<YYYYmmddTHHMMSSffffff>Z-<call>-reserved-<tokens>.json
    llm-usage/<YYYYmmddHH>/<YYYYmmddTHHMMSSffffff>Z-<call>-spent-<tokens>.json

A call first reserves what it may cost at most (prompt estimate + max output), then records what
it did cost; a call that never records its spend (its process died) keeps its reservation, which
errs on the side of the budget. The hour is a sliding 60 minutes (this folder and the last), so
a storm straddling the top of the hour cannot spend two budgets in two minutes. Agents deciding
at the same moment each see the others' reservations only once written: together they may
overshoot by about one call each, never more.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from orchestrator import audit_layout
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.plan import TokenBudget

log = logging.getLogger(__name__)

PREFIX = "llm-usage"
HOUR = timedelta(hours=1)
_NAME = re.compile(r"^(\d{8}T\d{12})Z-([0-9a-f]+)-(reserved|spent)-(\d+)\.json$")


def new_call_id() -> str:
    """One LLM call's id in the ledger: random, so a redelivered input's call is a new call."""
    return secrets.token_hex(8)


class Ledger:
    """The hourly token ledger in the audit store (see the module docstring)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def spent(self, now: datetime) -> int:
        """Tokens spent, or reserved by calls still running, in the 60 minutes before `now`.

        Raises TransientError when the store cannot be listed: the caller must not guess."""
        now = now.astimezone(UTC)
        since = now - HOUR
        spent: dict[str, int] = {}
        reserved: dict[str, int] = {}
        settled: set[str] = set()
        for hour in (since, now):
            for key in self.store.list(f"{PREFIX}/{hour:%Y%m%d%H}/"):
                m = _NAME.match(key.rsplit("/", 1)[-1])
                if not m:
                    continue
                at = audit_layout.parse_stamp(m.group(1))
                call, kind, tokens = m.group(2), m.group(3), int(m.group(4))
                if kind == "spent":
                    settled.add(call)
                if at >= since:
                    (spent if kind == "spent" else reserved)[call] = tokens
        # A settled call counts what it cost, not what it reserved.
        return sum(spent.values()) + sum(t for c, t in reserved.items() if c not in settled)

    def record(self, call: str, kind: Literal["reserved", "spent"], tokens: int, *,
               now: datetime, about: dict[str, str]) -> None:
        """Write one ledger entry (create-only: a call records each kind once)."""
        now = now.astimezone(UTC)
        key = (f"{PREFIX}/{now:%Y%m%d%H}/{audit_layout.stamp(now)}-{call}-{kind}-"
               f"{max(tokens, 0)}.json")
        body = json.dumps({"call": call, kind: tokens, "at": now.isoformat(), **about})
        self.store.put(key, body.encode(), if_absent=True)


@dataclass(frozen=True)
class Budget:
    """The two budgets and what was spent against them before this planning started."""

    incident_limit: int
    incident_spent: int
    hour_limit: int = 0
    """0: no hourly limit."""
    hour_spent: int | None = None
    """None: not counted (no audit store), so not enforced."""

    @property
    def hourly(self) -> bool:
        return self.hour_limit > 0 and self.hour_spent is not None

    def exceeded(self, *, used: int, need: int) -> tuple[Literal["incident", "hour"], str] | None:
        """Which budget the next call (up to `need` tokens, after `used` by this planning)
        would exceed, and a sentence saying so with the figures; None when both allow it."""
        spent = self.incident_spent + used
        if spent + need > self.incident_limit:
            return "incident", (
                f"LLM token budget per incident exhausted: {spent} of {self.incident_limit} "
                f"tokens spent on this incident, the next call needs up to {need}")
        if self.hourly:
            assert self.hour_spent is not None
            hour = self.hour_spent + used
            if hour + need > self.hour_limit:
                return "hour", (
                    f"LLM token budget per hour exhausted: {hour} of {self.hour_limit} tokens "
                    f"spent by all incidents in the last 60 minutes, the next call needs up "
                    f"to {need}")
        return None

    def snapshot(self, *, used: int,
                 exhausted: Literal["incident", "hour"] | None = None) -> TokenBudget:
        """What the plan shows: limits, spend including this plan's calls, what stopped it."""
        return TokenBudget(
            incident_limit=self.incident_limit, incident_spent=self.incident_spent + used,
            hour_limit=self.hour_limit if self.hourly else None,
            hour_spent=self.hour_spent + used if self.hourly and self.hour_spent is not None
            else None,
            exhausted=exhausted)
