"""The durable per-target budget: a coordination.k8s.io Lease per top owner, on the cluster.

It survives every function restarting, so a flapping alert cannot drive an endless restart
loop. Each action taken is an entry in the Lease (plan, action, time, state). A slot is taken
with a read-modify-write carrying the Lease's resourceVersion: two executors racing for the
last slot both read version N, one writes N+1, the other gets a 409, re-reads, and sees the
slot gone. The same entry also makes redelivery harmless (a plan finds its own entry) and lets
two plans for one workload perform one action (the second sees the first settling).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from orchestrator.act.policy import BudgetPolicy
from orchestrator.adapters.kube_errors import Conflict
from orchestrator.adapters.kube_writes import KubeWrites
from orchestrator.context import ObjectRef
from orchestrator.errors import TransientError
from orchestrator.models import Frozen

log = logging.getLogger(__name__)

ENTRIES_ANNOTATION = "orchestrator.io/budget-entries"
TARGET_ANNOTATION = "orchestrator.io/target"
ATTEMPTS = 8
LEASE_LABELS = {"app.kubernetes.io/managed-by": "incident-orchestrator",
                "app.kubernetes.io/component": "budget"}
LEASE_SELECTOR = ",".join(f"{k}={v}" for k, v in sorted(LEASE_LABELS.items()))

State = Literal["taken", "applied", "failed"]


class Entry(Frozen):
    plan: str
    incident: str
    action: str
    index: int
    at: datetime
    state: State = "taken"


@dataclass(frozen=True)
class Slot:
    """The answer to "may this action run on this workload now?"."""

    status: Literal["free", "mine", "settling", "spent"]
    detail: str = ""
    entry: Entry | None = None


def lease_name(top: ObjectRef) -> str:
    """A valid, stable Lease name for a top owner key (names can be long; keys have slashes)."""
    digest = hashlib.sha256(top.key.encode()).hexdigest()[:16]
    readable = f"{top.kind}-{top.name}".lower()[:39].strip("-.")
    return f"budget-{readable}-{digest}"


def decide(entries: list[Entry], *, plan_id: str, index: int, now: datetime,
           policy: BudgetPolicy) -> Slot:
    """Pure decision over the entries still in the window."""
    window = timedelta(seconds=policy.window_seconds)
    settle = timedelta(seconds=policy.settle_seconds)
    live = [e for e in entries if e.at > now - max(window, settle)]
    mine = next((e for e in live if e.plan == plan_id and e.index == index), None)
    if mine is not None:
        return Slot("mine", f"plan {plan_id} already holds this slot ({mine.state})", mine)
    recent = [e for e in live if e.plan != plan_id and e.state != "failed" and e.at > now - settle]
    if recent:
        last = max(recent, key=lambda e: e.at)
        return Slot("settling", f"plan {last.plan} ran {last.action} on this workload at "
                    f"{last.at.isoformat()}; letting it settle for {policy.settle_seconds:g}s",
                    last)
    counted = [e for e in live if e.at > now - window]
    if len(counted) >= policy.max_actions:
        return Slot("spent", f"{len(counted)} actions on this workload in the last "
                    f"{policy.window_seconds:g}s, the policy allows {policy.max_actions}")
    return Slot("free")


class LeaseBudget:
    """Reads and spends the per-top-owner budget Leases in one namespace."""

    def __init__(self, kube: KubeWrites, *, namespace: str, holder: str,
                 policy: BudgetPolicy) -> None:
        self.kube = kube
        self.namespace = namespace
        self.holder = holder
        self.policy = policy

    def find(self, plan_id: str) -> dict[int, Entry]:
        """This plan's entries (by action index) in any budget Lease: how a redelivered plan
        recognises an action it already performed even when its target is gone (an evicted pod
        has no owner chain left to find the Lease by)."""
        found: dict[int, Entry] = {}
        for lease in self.kube.list("Lease", self.namespace, label_selector=LEASE_SELECTOR):
            for entry in _entries(lease) or []:
                if entry.plan == plan_id:
                    found[entry.index] = entry
        return found

    def peek(self, top: ObjectRef, *, plan_id: str, index: int, now: datetime) -> Slot:
        lease = self.kube.get("Lease", self.namespace, lease_name(top))
        entries = _entries(lease)
        if entries is None:
            return Slot("spent", "the budget Lease is unreadable; refusing until it is fixed")
        return decide(entries, plan_id=plan_id, index=index, now=now, policy=self.policy)

    def take(self, top: ObjectRef, *, plan_id: str, incident: str, action: str, index: int,
             now: datetime) -> Slot:
        """Spend one slot, or say why not. `mine` means this plan already holds it."""
        name = lease_name(top)
        for _ in range(ATTEMPTS):
            lease = self.kube.get("Lease", self.namespace, name)
            entries = _entries(lease)
            if entries is None:
                return Slot("spent", "the budget Lease is unreadable; refusing until it is fixed")
            slot = decide(entries, plan_id=plan_id, index=index, now=now, policy=self.policy)
            if slot.status != "free":
                return slot
            entry = Entry(plan=plan_id, incident=incident, action=action, index=index, at=now)
            keep = self._prune(entries, now) + [entry]
            try:
                self._write(top, name, lease, keep, now)
            except Conflict:
                log.info("budget lease %s changed under us; re-reading", name)
                continue
            return Slot("free", "slot taken", entry)
        raise TransientError(f"budget lease {self.namespace}/{name} is too contended; retry")

    def finish(self, top: ObjectRef, *, plan_id: str, index: int, state: State,
               now: datetime) -> None:
        """Record how the action ended (a failed one no longer holds other plans off)."""
        self._update(top, plan_id, index, state, now)

    def release(self, top: ObjectRef, *, plan_id: str, index: int, now: datetime) -> None:
        """Give a slot back: the action was not performed after all."""
        self._update(top, plan_id, index, None, now)

    def _update(self, top: ObjectRef, plan_id: str, index: int, state: State | None,
                now: datetime) -> None:
        name = lease_name(top)
        for _ in range(ATTEMPTS):
            lease = self.kube.get("Lease", self.namespace, name)
            entries = _entries(lease)
            if not entries:
                return
            if state is None:
                updated = [e for e in entries if not (e.plan == plan_id and e.index == index)]
            else:
                updated = [e.model_copy(update={"state": state})
                           if e.plan == plan_id and e.index == index else e for e in entries]
            if updated == entries:
                return
            try:
                self._write(top, name, lease, updated, now)
            except Conflict:
                continue
            return
        raise TransientError(f"budget lease {self.namespace}/{name} is too contended; retry")

    def _prune(self, entries: list[Entry], now: datetime) -> list[Entry]:
        horizon = now - timedelta(seconds=max(self.policy.window_seconds,
                                              self.policy.settle_seconds))
        return [e for e in entries if e.at > horizon]

    def _write(self, top: ObjectRef, name: str, lease: dict[str, Any] | None,
               entries: list[Entry], now: datetime) -> None:
        payload = json.dumps([e.model_dump(mode="json") for e in entries], separators=(",", ":"))
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": self.holder, "renewTime": stamp,
                "leaseDurationSeconds": int(self.policy.window_seconds)}
        if lease is None:
            body: dict[str, Any] = {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": self.namespace,
                             "labels": dict(LEASE_LABELS),
                             "annotations": {TARGET_ANNOTATION: top.key,
                                             ENTRIES_ANNOTATION: payload}},
                "spec": {**spec, "acquireTime": stamp},
            }
            self.kube.create("Lease", self.namespace, body)
            return
        body = dict(lease)
        meta = dict(body.get("metadata") or {})
        meta["annotations"] = {**(meta.get("annotations") or {}), TARGET_ANNOTATION: top.key,
                               ENTRIES_ANNOTATION: payload}
        body["metadata"] = meta  # carries the resourceVersion read: the precondition
        body["spec"] = {**(body.get("spec") or {}), **spec}
        self.kube.replace("Lease", self.namespace, name, body)


def _entries(lease: dict[str, Any] | None) -> list[Entry] | None:
    """The Lease's entries; [] for no Lease; None when someone broke the annotation."""
    if lease is None:
        return []
    raw = ((lease.get("metadata") or {}).get("annotations") or {}).get(ENTRIES_ANNOTATION)
    if not raw:
        return []
    try:
        return [Entry.model_validate(e) for e in json.loads(raw)]
    except (ValueError, TypeError) as e:
        log.error("budget lease %s has an unreadable %s annotation: %s",
                  (lease.get("metadata") or {}).get("name"), ENTRIES_ANNOTATION, e)
        return None
