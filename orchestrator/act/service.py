"""Executor (Act): the per-process wiring of settings, policy, keys and the cluster connection,
and the handler `functions/executor/main.py` calls.

Built once per process on the first event (lazily: cold start is a product feature). The policy
file is re-read when it changes (a ConfigMap update swaps the file), so tightening the policy
or pulling the kill switch needs no restart.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.act.core import Executor, on_approved, on_proposed, on_rejected
from orchestrator.act.policy import Policy, PolicyError, load_policy
from orchestrator.act.replies import Incoming
from orchestrator.envelope import Event, Outgoing
from orchestrator.errors import OrchestratorError, PermanentError
from orchestrator.events import (
    PLAN_APPROVED,
    PLAN_PROPOSED,
    PLAN_REJECTED,
    PlanApproved,
    PlanProposed,
    PlanRejected,
)
from orchestrator.lifecycle import Lazy, process_settings
from orchestrator.provenance import PRODUCERS, require, signed_time

if TYPE_CHECKING:
    from orchestrator.knowledge.runbook import Runbook

log = logging.getLogger(__name__)
STAGE = "executor"
ACCEPTS = {t: PRODUCERS[t] for t in (PLAN_PROPOSED, PLAN_APPROVED, PLAN_REJECTED)}


def runbooks_from(folder: Path) -> dict[str, Runbook]:
    """Runbook id → the runbook: the actions it allows and when (unreadable files are skipped)."""
    from orchestrator.knowledge.runbook import load_folder

    try:
        books = load_folder(folder, strict=False)
    except OrchestratorError as e:
        log.error("cannot read runbooks from %s (%s): every plan will be refused", folder, e)
        return {}
    return {rb.id: rb for rb in books}


class Service:
    """One executor process: the decision context, and the policy file it follows."""

    def __init__(self, executor: Executor, *, policy_file: Path | None = None,
                 mode_override: str | None = None, connection: Any = None) -> None:
        self.executor = executor
        self.policy_file = policy_file
        self.mode_override = mode_override
        self.connection = connection
        self._stamp = _mtime(policy_file)
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> Service:
        from orchestrator.act.remembered import memory_store
        from orchestrator.adapters.kube import connect_to
        from orchestrator.adapters.kube_reads import KubeReader
        from orchestrator.adapters.kube_writes import KubeWriter
        from orchestrator.provenance import identity_of
        from orchestrator.resources import runbooks_dir
        from orchestrator.settings.executor import ExecutorSettings

        s = process_settings(ExecutorSettings)  # the read the first delivery's checks made
        signer, keyring = identity_of(STAGE, s)
        conn = connect_to(s, user_agent="incident-orchestrator/executor")
        server = conn.server
        kube = KubeWriter(server, field_manager=s.field_manager,
                          timeout=s.request_timeout_seconds) if server is not None else None
        reads = KubeReader(server, timeout=s.request_timeout_seconds,
                           user_agent="incident-orchestrator/executor") \
            if server is not None else None
        folder = s.runbooks_dir or runbooks_dir()
        cache: dict[str, dict[str, Runbook]] = {}

        def runbooks() -> dict[str, Runbook]:
            if "books" not in cache:
                cache["books"] = runbooks_from(folder)
            return cache["books"]

        policy, error = _load(s.policy_file)
        executor = Executor(
            kube=kube, policy=policy, mode=s.mode or policy.mode, cluster_name=s.cluster_name,
            signer=signer, keyring=keyring,
            proposal_ttl=timedelta(seconds=s.proposal_ttl_seconds),
            runbooks=runbooks, budget_namespace=s.budget_namespace,
            instance=s.instance, approval_ttl=timedelta(seconds=s.approval_ttl_seconds),
            clock_skew=timedelta(seconds=s.clock_skew_seconds), clock=lambda: datetime.now(UTC),
            policy_error=error, memory=memory_store(s), reads=reads)
        log.info("executor ready: mode %s, cluster %s, kubernetes %s", executor.mode,
                 s.cluster_name or "(unnamed)", conn.source)
        return cls(executor, policy_file=s.policy_file, mode_override=s.mode, connection=conn)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()

    def current(self) -> Executor:
        """The executor with the policy file's latest content."""
        stamp = _mtime(self.policy_file)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    policy, error = _load(self.policy_file)
                    self.executor = dataclasses.replace(
                        self.executor, policy=policy, policy_error=error,
                        mode=self.mode_override or policy.mode)  # type: ignore[arg-type]
                    self._stamp = stamp
                    log.info("policy reloaded from %s: mode %s", self.policy_file,
                             self.executor.mode)
        return self.executor

    def handle(self, event: Event) -> Outgoing:
        """Authenticate the delivery (401 before any cluster read), decide, sign the reply."""
        if event.type not in ACCEPTS:
            raise PermanentError(f"executor does not handle {event.type!r}")
        ex = self.current()
        ex.keyring.check(event, now=ex.clock(), expect=ACCEPTS)
        signer = require(ex.signer, STAGE)
        return signer.sealed(self._decide(ex, event))

    def _decide(self, ex: Executor, event: Event) -> Outgoing:
        hint = event.extensions.get("partitionkey")
        if event.type == PLAN_PROPOSED:
            proposed = event.parse(PlanProposed)
            return on_proposed(ex, _incoming(proposed, event.id, hint), proposed,
                               signed_at=signed_time(event))
        if event.type == PLAN_APPROVED:
            approved = event.parse(PlanApproved)
            return on_approved(ex, _incoming(approved, event.id, hint), approved)
        rejected = event.parse(PlanRejected)
        return on_rejected(ex, _incoming(rejected, event.id, hint), rejected)


def _incoming(body: PlanProposed | PlanApproved | PlanRejected, event_id: str,
              hint: str | None) -> Incoming:
    return Incoming(incident_key=body.incident_key, alert=body.alert, plan=body.plan,
                    event_id=event_id, partition_hint=hint)


def _load(path: Path | None) -> tuple[Policy, str | None]:
    """The policy, or (the strictest policy, why) when the file is broken: fail closed."""
    try:
        return load_policy(path), None
    except PolicyError as e:
        log.error("invalid executor policy, refusing every plan: %s", e)
        return Policy(mode="off", kill_switch=True), str(e)


def _mtime(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


#: The process-wide executor, built on first use (`instance()`; tests `instance.reset()`).
instance = Lazy(Service.from_env)


def handle_event(event: Event) -> Outgoing | None:
    return instance().handle(event)
