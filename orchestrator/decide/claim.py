"""One LLM call per alert fingerprint and reopen window, however many deliveries race for it.

At-least-once delivery hands the agent the same alert several times, often at once, and an
alert that resolves and fires again within the reopen window is a new incident with the same
fingerprint. Reuse finds an earlier plan only once the console has written it to the audit log;
the claim covers the seconds before that. Layout, in the audit store beside the console's
records (create-only objects, so this works the same on a local folder and on S3/MinIO):

    llm-claims/<fingerprint>/<generation:08d>.json           the claim
    llm-claims/<fingerprint>/<generation:08d>-outcome.json   what its holder decided

The delivery that creates the next generation holds the claim: it asks the model, then writes
the outcome (the plan, or the escalation) beside the claim. Every other delivery follows the
latest claim while it governs: it reads the outcome, polling for it (bounded) while the holder
is at work. A new generation may be claimed only when asking the model again is worth paying
for: the latest outcome is older than the reopen window, its holder released it (failed without
deciding) or abandoned it (its deadline passed without an outcome: the process died).
Deliveries racing for one generation: the create-only write lets exactly one win; the others
follow it. A follower whose context no longer fits the holder's plan plans offline: the window
buys one call per fingerprint, not one per change of context.

A holder is one delivery (a random id), not one input: the broker's second copy of an input is
another delivery and must follow, not call again. The holder's deadline is the longest its LLM
calls can take; a follower waits at most `wait`, then its caller plans offline rather than hold
the delivery up. Nothing is lost either way: every delivery answers with a plan or an escalation.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator import audit_layout
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.decide.situation import Escalation, Situation
from orchestrator.errors import TransientError
from orchestrator.events import EscalationReason
from orchestrator.plan import Plan

log = logging.getLogger(__name__)

PREFIX = "llm-claims"
_NAME = re.compile(r"^(\d{8})(-outcome)?\.json$")
# Poll for a holder's outcome from 50 ms, growing to 1 s: quick when the model is, and a storm
# of waiting duplicates costs the store a few reads a second each, not hundreds.
_FIRST_POLL, _MAX_POLL = 0.05, 1.0


_M = TypeVar("_M", "Claim", "Outcome")


class Claim(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    generation: int
    holder: str
    plan_id: str
    incident_key: str
    claimed_at: datetime
    deadline: datetime
    """By then the holder has written its outcome, or it never will (its process died)."""


class Outcome(BaseModel):
    """The holder's decision; neither a plan nor a reason means it released the claim."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    holder: str
    plan_id: str
    decided_at: datetime
    plan: Plan | None = None
    reason: EscalationReason | None = None
    detail: str = ""
    escalation_plan_id: str | None = None

    @property
    def released(self) -> bool:
        return self.plan is None and self.reason is None

    def escalation(self) -> Escalation:
        assert self.reason is not None
        return Escalation(self.reason, self.detail, self.escalation_plan_id)


@dataclass(frozen=True)
class Decided:
    """Another delivery decided for this fingerprint: follow it."""

    claim: Claim
    outcome: Outcome


@dataclass(frozen=True)
class Busy:
    """Another delivery is still asking the model, and the wait for it ran out."""

    claim: Claim


@dataclass(frozen=True)
class Free:
    """No claim governs: this generation may be claimed."""

    generation: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Claims:
    """The LLM claims in the audit store (see the module docstring); shared by the threads of
    one agent process, it keeps no state of its own: `window` is the reopen window, `hold` a
    holder's deadline, `wait` the longest a follower waits for an outcome."""

    store: ObjectStore
    _: KW_ONLY
    window: timedelta
    hold: timedelta
    wait: timedelta
    clock: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], None] = time.sleep

    def look(self, fingerprint: str) -> Decided | Busy | Free:
        """The claim governing this fingerprint now, with its outcome (waited for while the
        holder works), or the generation to claim. Raises TransientError (store unreachable)."""
        folder = _folder(fingerprint)
        generation, claim, outcome = self._latest(folder)
        if claim is None:
            return Free(generation + 1)
        if outcome is None and self.clock() < claim.deadline:
            outcome = self._await(folder, claim)
            if outcome is None:
                return Busy(claim) if self.clock() < claim.deadline else Free(generation + 1)
            # Waited for: follow it whatever the window, it answers this very storm.
            return Free(generation + 1) if outcome.released else Decided(claim, outcome)
        if outcome is None or outcome.released or self.clock() >= claim.claimed_at + self.window:
            return Free(generation + 1)
        return Decided(claim, outcome)

    def take(self, s: Situation, free: Free) -> Claim | None:
        """Claim `free.generation` for this delivery, which then holds it: it asks the model,
        then `settle`s. None when another delivery got it first."""
        now = self.clock()
        claim = Claim(generation=free.generation, holder=secrets.token_hex(8), plan_id=s.plan_id,
                      incident_key=s.incident_key, claimed_at=now, deadline=now + self.hold)
        key = _key(_folder(s.alert.fingerprint), free.generation)
        if not self.store.put(key, claim.model_dump_json().encode(), if_absent=True):
            return None
        log.info("took LLM claim %s for fingerprint %s", free.generation, s.alert.fingerprint)
        return claim

    def settle(self, held: Claim, fingerprint: str, result: Plan | Escalation | None) -> None:
        """Write the holder's outcome (None: release the claim, nothing was decided). A failed
        write is logged, not raised: the plan is already made, and followers treat a claim
        with no outcome past its deadline as abandoned."""
        out = Outcome(holder=held.holder, plan_id=held.plan_id, decided_at=self.clock())
        if isinstance(result, Plan):
            out = out.model_copy(update={"plan": result})
        elif isinstance(result, Escalation):
            out = out.model_copy(update={"reason": result.reason, "detail": result.detail,
                                         "escalation_plan_id": result.plan_id})
        key = _key(_folder(fingerprint), held.generation, outcome=True)
        try:
            self.store.put(key, out.model_dump_json().encode(), if_absent=True)
        except TransientError as e:
            log.warning("could not record the outcome of LLM claim %s: %s", held.generation, e)

    def _latest(self, folder: str) -> tuple[int, Claim | None, Outcome | None]:
        generation = -1
        for key in self.store.list(folder):
            m = _NAME.match(key.rsplit("/", 1)[-1])
            if m:
                generation = max(generation, int(m.group(1)))
        if generation < 0:
            return generation, None, None
        claim = _read(self.store, _key(folder, generation), Claim)
        outcome = _read(self.store, _key(folder, generation, outcome=True), Outcome)
        return generation, claim, outcome

    def _await(self, folder: str, claim: Claim) -> Outcome | None:
        left = min((claim.deadline - self.clock()).total_seconds(), self.wait.total_seconds())
        deadline = time.monotonic() + max(left, 0.0)
        pause = _FIRST_POLL
        key = _key(folder, claim.generation, outcome=True)
        while time.monotonic() < deadline:
            self.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 1.5, _MAX_POLL)
            outcome = _read(self.store, key, Outcome)
            if outcome is not None:
                return outcome
        return None


def _folder(fingerprint: str) -> str:
    # Fingerprints are hex from Alertmanager, but a manual trigger's comes from outside.
    return f"{PREFIX}/{audit_layout.file_id(fingerprint)}/"


def _key(folder: str, generation: int, *, outcome: bool = False) -> str:
    return f"{folder}{generation:08d}{'-outcome' if outcome else ''}.json"


def _read(store: ObjectStore, key: str, model: type[_M]) -> _M | None:
    raw = store.get(key)
    if raw is None:
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        # Unreadable (a newer agent's format?): as if absent, so a new generation may start.
        log.warning("unreadable LLM claim record %s: %s", key, e.errors()[0]["msg"])
        return None
