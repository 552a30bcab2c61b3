"""The router's event surface and its per-process wiring around Orient's core (`core.py`).

- `incident.alert.received`, firing → `incident.context.enriched` (the alert's Kubernetes
  context, redacted and cut to the byte cap); resolved → `incident.resolved` (no cluster read).
- `incident.action.completed` / `.failed` → `incident.resolved` or `incident.escalated`
  (see `closing.py`).

The settings and the cluster connection are built on the first event and kept for the process
(the `kubernetes` package is imported then, and only when a cluster is configured).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchestrator.adapters.kube import Connection
from orchestrator.adapters.kube_reads import KubeReads
from orchestrator.envelope import Event, Outgoing
from orchestrator.errors import PermanentError, TransientError
from orchestrator.events import (
    ACTION_COMPLETED,
    ACTION_FAILED,
    ALERT_RECEIVED,
    AlertReceived,
)
from orchestrator.lifecycle import Lazy, process_settings
from orchestrator.orient.core import STAGE, orient, verify
from orchestrator.provenance import PRODUCERS, Keyring, Signer, require
from orchestrator.settings.router import RouterSettings

if TYPE_CHECKING:
    from orchestrator.adapters.prometheus import Alerts, Metrics

ACCEPTS = {t: PRODUCERS[t] for t in (ALERT_RECEIVED, ACTION_COMPLETED, ACTION_FAILED)}


class Router:
    """Settings and cluster connection of one router process."""

    def __init__(self, *, settings: RouterSettings, connection: Connection,
                 signer: Signer | None, keyring: Keyring, reads: KubeReads | None = None,
                 metrics: Metrics | None = None, alerts: Alerts | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.connection = connection
        self.signer = signer
        self.keyring = keyring
        self.now = now
        # Watches beyond this many are refused (503, retried by the broker), so a storm of
        # verifications never takes every thread: health checks and alerts still get one.
        self._watch_slots = threading.BoundedSemaphore(settings.max_verifications)
        if metrics is None and settings.prometheus_url:
            from orchestrator.adapters.prometheus import PrometheusClient

            metrics = PrometheusClient(settings.prometheus_url,
                                       timeout=settings.prometheus_timeout_seconds)
        if alerts is None and settings.alertmanager_url:
            from orchestrator.adapters.prometheus import AlertmanagerClient

            alerts = AlertmanagerClient(settings.alertmanager_url,
                                        timeout=settings.prometheus_timeout_seconds)
        self.metrics = metrics
        self.alerts = alerts
        if reads is None and connection.server is not None:
            from orchestrator.adapters.kube_reads import KubeReader

            reads = KubeReader(connection.server,
                               timeout=settings.request_timeout_seconds)
        self.reads = reads

    @classmethod
    def from_env(cls) -> Router:
        from orchestrator.adapters.kube import connect_to
        from orchestrator.provenance import identity_of

        s = process_settings(RouterSettings)  # the read the first delivery's checks made
        signer, keyring = identity_of(STAGE, s)
        # Requests run concurrently (gunicorn threads), each with its readers.
        conn = connect_to(s, pool_size=s.read_threads * 4,
                          user_agent="incident-orchestrator/router")
        return cls(settings=s, connection=conn, signer=signer, keyring=keyring)

    def close(self) -> None:
        self.connection.close()

    def handle(self, event: Event) -> Outgoing | None:
        """Authenticate the delivery (401 before any cluster read), answer it, sign the answer."""
        if event.type not in ACCEPTS:
            raise PermanentError(f"router does not handle {event.type!r}")
        self.keyring.check(event, now=self.now(), expect=ACCEPTS)
        signer = require(self.signer, STAGE)
        if event.type == ALERT_RECEIVED:
            out = orient(received=event.parse(AlertReceived), input_id=event.id,
                         reads=self.reads, source=self.connection.source,
                         settings=self.settings, problem=self.connection.problem,
                         metrics=self.metrics)
        else:
            if not self._watch_slots.acquire(blocking=False):
                raise TransientError(
                    f"router busy: {self.settings.max_verifications} verifications already "
                    "watching in this process; the broker will deliver this one again")
            try:
                out = verify(event=event, reads=self.reads, settings=self.settings,
                             metrics=self.metrics, alerts=self.alerts)
            finally:
                self._watch_slots.release()
        return signer.sealed(out)


#: The process-wide Router, built on first use (`instance()`; tests `instance.reset()`).
instance = Lazy(Router.from_env)


def handle_event(event: Event) -> Outgoing | None:
    return instance().handle(event)
