"""The router's event surface (Orient + verify) and its per-process wiring.

- `incident.alert.received`, firing → `incident.context.enriched` (the alert's Kubernetes
  context, redacted and cut to the byte cap); resolved → `incident.resolved` (no cluster read).
- `incident.action.completed` / `.failed` → `incident.resolved` or `incident.escalated`
  (see `closing.py`).

The settings and the cluster connection are built on the first event and kept for the process
(the `kubernetes` package is imported then, and only when a cluster is configured).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchestrator.adapters.kube import Connection, Source
from orchestrator.adapters.kube_reads import KubeReads
from orchestrator.context import ClusterContext
from orchestrator.envelope import Event, Outgoing
from orchestrator.errors import PermanentError, TransientError
from orchestrator.events import (
    ACTION_COMPLETED,
    ACTION_FAILED,
    ALERT_RECEIVED,
    CONTEXT_ENRICHED,
    ESCALATED,
    RESOLVED,
    ActionCompleted,
    ActionFailed,
    Alert,
    AlertReceived,
    ContextEnriched,
    Resolved,
)
from orchestrator.ids import event_id
from orchestrator.lifecycle import Lazy, process_settings
from orchestrator.provenance import PRODUCERS, Keyring, Signer, require
from orchestrator.settings.common import limits_from
from orchestrator.settings.router import RouterSettings

if TYPE_CHECKING:
    from orchestrator.adapters.prometheus import Alerts, Metrics
    from orchestrator.orient.fields import Scrubber
    from orchestrator.orient.metrics import Lookup

log = logging.getLogger(__name__)
STAGE = "router"
ACCEPTS = {t: PRODUCERS[t] for t in (ALERT_RECEIVED, ACTION_COMPLETED, ACTION_FAILED)}


def orient(*, received: AlertReceived, input_id: str, reads: KubeReads | None, source: Source,
           settings: RouterSettings, problem: str | None = None,
           metrics: Metrics | None = None) -> Outgoing:
    """The reply to one `incident.alert.received`."""
    key, alert = received.incident_key, received.alert
    out_id = event_id(key, STAGE, input_id)
    if alert.status == "resolved":
        log.info("alert %s resolved: incident %s", alert.name, key)
        ended = alert.ends_at.isoformat() if alert.ends_at else "unknown"
        return Outgoing(RESOLVED, out_id, STAGE, key,
                        Resolved(incident_key=key, how="alert-resolved", alert=alert,
                                 detail=f"Alertmanager reported the alert resolved (ends at "
                                        f"{ended})"),
                        partition_key=alert.fingerprint)
    from orchestrator.orient.byte_budget import fit
    from orchestrator.orient.enrich import enrich, redact_alert
    from orchestrator.orient.fields import Scrubber
    from orchestrator.orient.gather import Limits
    s = settings
    limits = limits_from(Limits, s)
    scrub = Scrubber()
    started = time.monotonic()
    prepared: Future[Lookup] | None = None
    if metrics is not None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="router-prom") as pool:
            prepared = pool.submit(_prepare, alert, metrics, s, scrub)
            ctx = enrich(alert=alert, reads=reads, source=source, limits=limits,
                         threads=s.read_threads, scrub=scrub, problem=problem)
        ctx = _with_metrics(ctx, alert=alert, metrics=metrics, settings=s, scrub=scrub,
                            prepared=prepared.result())
    else:
        ctx = enrich(alert=alert, reads=reads, source=source, limits=limits,
                     threads=s.read_threads, scrub=scrub, problem=problem)
    clean = redact_alert(alert, scrub)
    ctx = ctx.model_copy(update={"redactions": scrub.records()})

    def size_of(c: ClusterContext) -> int:
        return len(ContextEnriched(incident_key=key, alert=clean, context=c,
                                   test=received.test).model_dump_json().encode())

    ctx = fit(ctx, size_of=size_of, cap=s.max_event_bytes)
    data = ContextEnriched(incident_key=key, alert=clean, context=ctx, test=received.test)
    log.info("enriched %s (%s): target %s, %d pods, %d events, %d log tails, %d metrics, "
             "%d errors, %d redactions, %d cuts, %d bytes in %.0f ms", alert.name, ctx.source,
             ctx.target.key if ctx.target else "none", len(ctx.pods), len(ctx.events),
             len(ctx.logs), len(ctx.metrics), len(ctx.errors), len(ctx.redactions), len(ctx.cut),
             size_of(ctx), (time.monotonic() - started) * 1000)
    return Outgoing(CONTEXT_ENRICHED, out_id, STAGE, key, data,
                    partition_key=alert.fingerprint)


def _prepare(alert: Alert, metrics: Metrics, settings: RouterSettings,
             scrub: Scrubber) -> Lookup:
    """What needs no cluster context (the rule lookup, the runbooks read), run while the
    cluster is read: it hides Prometheus' round trip and these imports from the cold start."""
    from orchestrator.orient.metrics import lookup_rule
    from orchestrator.orient.runbook_queries import load_runbooks
    from orchestrator.resources import runbooks_dir

    load_runbooks(settings.runbooks_dir or runbooks_dir())
    return lookup_rule(alert, metrics, scrub)


def _with_metrics(ctx: ClusterContext, *, alert: Alert, metrics: Metrics,
                  settings: RouterSettings, scrub: Scrubber,
                  prepared: Lookup) -> ClusterContext:
    """The context with the Prometheus evidence attached (see `metrics.py`)."""
    from orchestrator.orient.metrics import MetricLimits, gather_metrics
    from orchestrator.orient.runbook_queries import runbook_queries
    from orchestrator.resources import runbooks_dir

    s = settings
    if prepared.down:
        return ctx.model_copy(update={"errors": [*ctx.errors, *prepared.errors]})
    queries, notes = runbook_queries(alert, ctx, s.runbooks_dir or runbooks_dir())
    limits = limits_from(MetricLimits, s, prefix="metrics_")
    found = gather_metrics(alert=alert, metrics=metrics, rule=prepared.rule,
                           runbook_queries=queries, limits=limits, scrub=scrub)
    return ctx.model_copy(update={"metrics": found, "errors": [*ctx.errors, *prepared.errors],
                                  "cut": [*ctx.cut, *notes]})


def verify(*, event: Event, reads: KubeReads | None, settings: RouterSettings,
           clock: Callable[[], float] = time.monotonic, metrics: Metrics | None = None,
           alerts: Alerts | None = None) -> Outgoing:
    """The reply to one `incident.action.completed` / `.failed`."""
    from orchestrator.orient.closing import close_loop

    done: ActionCompleted | ActionFailed = (
        event.parse(ActionCompleted) if event.type == ACTION_COMPLETED
        else event.parse(ActionFailed))
    verdict = close_loop(done=done, reads=reads, timeout=settings.verify_timeout_seconds,
                         settle=settings.verify_settle_seconds, clock=clock,
                         metrics=metrics, alerts=alerts, poll=settings.alert_poll_seconds)
    key = done.incident_key
    first = next((r.action.target.key for r in done.results), None)
    partition = event.extensions.get("partitionkey") or first or done.alert.fingerprint
    kind = RESOLVED if isinstance(verdict, Resolved) else ESCALATED
    log.info("plan %s: %s %s", done.plan_id, kind, verdict.detail[:300])
    return Outgoing(kind, event_id(key, STAGE, event.id), STAGE, key, verdict,
                    partition_key=partition)


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
        if reads is None and connection.available:
            from orchestrator.adapters.kube_reads import KubeReader

            reads = KubeReader(connection.api_client,
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
