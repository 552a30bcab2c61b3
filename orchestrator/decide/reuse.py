"""Plans already in the audit log for the same alert fingerprint: reuse and token accounting.

The console writes, for every `incident.plan.proposed`, a create-only copy of the audit record
under the fingerprint (`orchestrator.audit_layout`: the record is `{"id", "type", "source",
"subject", "time", "incidentkey", "partitionkey", "data"}`, `data` being the PlanProposed payload).
The timestamp in the name lets the agent pick the recent ones without reading the others.

A plan for the same fingerprint within the reopen window is reused instead of asking the LLM
again: an alert that flaps, or fires again after a fix, costs one plan an hour, not one per
firing. The reused plan is a new plan (new id, `reused_from` the old one) whose actions are
validated again against today's context: yesterday's rollback may no longer apply.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator import audit_layout
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.decide.situation import Situation
from orchestrator.decide.validate import InvalidPlan, Proposed, validate
from orchestrator.errors import TransientError
from orchestrator.events import PLAN_PROPOSED, PlanProposed
from orchestrator.plan import Plan

log = logging.getLogger(__name__)

_NOTE = re.compile(r"^Reused plan \S+ of \S+ \(.*?\), re-validated against the current context\. ")
# Records read per incident, newest first: more than a day of hourly reopens.
MAX_RECORDS = 32


@dataclass(frozen=True)
class Recorded:
    created_at: datetime
    key: str
    plan: Plan


def recorded_plans(store: ObjectStore, *, fingerprint: str, since: datetime) -> list[Recorded]:
    """Plans recorded for this fingerprint at or after `since`, newest first.

    Unreadable records are skipped with a warning: the audit log is the console's, and one bad
    object must not stop planning.
    """
    if not audit_layout.safe_name(fingerprint):
        return []  # the console could not have filed it either
    keys = []
    for key in store.list(f"{audit_layout.FINGERPRINTS}/{fingerprint}/"):
        created = audit_layout.plan_copy_time(key)
        if created is not None and created >= since:
            keys.append((created, key))
    found = []
    for created, key in sorted(keys, reverse=True)[:MAX_RECORDS]:
        plan = _read(store, key)
        if plan is not None:
            found.append(Recorded(created, key, plan))
    return found


def _read(store: ObjectStore, key: str) -> Plan | None:
    raw = store.get(key)
    if raw is None:
        return None
    try:
        record = PlanRecord.model_validate_json(raw)
    except ValidationError as e:
        log.warning("skipping unreadable audit record %s: %s", key, e.errors()[0]["msg"])
        return None
    if record.type != PLAN_PROPOSED:
        return None
    return record.data.plan


def spent_tokens(records: list[Recorded], incident_key: str) -> int:
    """Tokens the earlier plans of this incident cost (the per-incident budget counts them)."""
    return sum(r.plan.tokens_in + r.plan.tokens_out for r in records
               if r.plan.incident_key == incident_key)


def reuse(s: Situation, records: list[Recorded], *, window: timedelta,
          max_actions: int) -> Plan | None:
    """A re-issued recent plan that still validates against this context, or None."""
    for r in records:
        if r.created_at < s.now - window:
            break
        plan = reissue(s, r.plan, max_actions=max_actions)
        if plan is not None:
            return plan
    return None


def reissue(s: Situation, old: Plan, *, max_actions: int) -> Plan | None:
    """`old` (a plan for the same fingerprint) as this incident's plan, its actions validated
    again against this context; None when they no longer apply here."""
    if old.plan_id == s.plan_id:
        # The same input delivered again: answer with the same plan, as first issued.
        return old
    if not old.citations or not old.actions:
        return None
    cite = old.citations[0]
    proposed = [Proposed(type=a.type, kind=a.target.kind, name=a.target.name,
                         namespace=a.target.namespace,
                         parameters={k: str(v) for k, v in a.parameters.items()},
                         reason=a.reason) for a in old.actions]
    try:
        actions = validate(s, runbook_id=cite.runbook, chunk=cite.chunk, proposed=proposed,
                           max_actions=max_actions)
    except InvalidPlan as e:
        log.info("plan %s no longer applies: %s", old.plan_id, str(e)[:300])
        return None
    note = f"Reused plan {old.plan_id} of {old.created_at.isoformat()} (same alert " \
        "fingerprint within the reopen window), re-validated against the current context."
    original = _NOTE.sub("", old.hypothesis, count=1)  # one note, not a chain of them
    return s.plan(runbook_id=cite.runbook, chunk=cite.chunk, actions=actions,
                  hypothesis=f"{note} {original}", confidence=old.confidence,
                  model=old.model, offline=old.offline, reused_from=old.plan_id)


def load(store: ObjectStore, s: Situation, *, window: timedelta) -> list[Recorded] | None:
    """The records that matter for this incident: within the window or since it started.
    None when the audit store cannot be read."""
    since = min(s.now - window, s.alert.starts_at.astimezone(UTC))
    try:
        return recorded_plans(store, fingerprint=s.alert.fingerprint, since=since)
    except TransientError as e:
        # Reuse saves money; it must not stop incident response: the caller plans offline.
        log.warning("audit log unreadable: no plan reuse, nor an LLM call without its "
                    "guards: %s", e)
        return None


class PlanRecord(BaseModel):
    """What reuse reads of an audit record (`console.audit.Record`, as the console wrote it):
    that it is one, its type and the PlanProposed payload; the rest of the envelope is ignored
    (it may grow; `data` may not)."""

    # Built when a recorded plan is first read, not at import (cold start): it holds the
    # whole PlanProposed schema.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: str
    type: str
    data: PlanProposed
