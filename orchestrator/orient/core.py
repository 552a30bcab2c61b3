"""Orient's pure core: one `incident.alert.received` in, its context (or resolution) out, and
one `incident.action.completed`/`.failed` in, its verdict out. Everything it touches comes in as
arguments (reads, settings, Prometheus clients); `service.py` wires the process around it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from orchestrator.adapters.kube import Source
from orchestrator.adapters.kube_reads import KubeReads
from orchestrator.context import ClusterContext
from orchestrator.envelope import Event, Outgoing
from orchestrator.events import (
    ACTION_COMPLETED,
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
from orchestrator.settings.router import RouterSettings

if TYPE_CHECKING:
    from orchestrator.adapters.prometheus import Alerts, Metrics
    from orchestrator.orient.fields import Scrubber
    from orchestrator.orient.metrics import Lookup

log = logging.getLogger(__name__)
STAGE = "router"


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
    s = settings
    scrub = Scrubber()
    started = time.monotonic()
    prepared: Future[Lookup] | None = None
    if metrics is not None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="router-prom") as pool:
            prepared = pool.submit(_prepare, alert, metrics, s, scrub)
            ctx = enrich(alert=alert, reads=reads, source=source, limits=s,
                         threads=s.read_threads, scrub=scrub, problem=problem)
        ctx = _with_metrics(ctx, alert=alert, metrics=metrics, settings=s, scrub=scrub,
                            prepared=prepared.result())
    else:
        ctx = enrich(alert=alert, reads=reads, source=source, limits=s,
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
    from orchestrator.orient.metrics import gather_metrics
    from orchestrator.orient.runbook_queries import runbook_queries
    from orchestrator.resources import runbooks_dir

    s = settings
    if prepared.down:
        return ctx.model_copy(update={"errors": [*ctx.errors, *prepared.errors]})
    queries, notes = runbook_queries(alert, ctx, s.runbooks_dir or runbooks_dir())
    found = gather_metrics(alert=alert, metrics=metrics, rule=prepared.rule,
                           runbook_queries=queries, limits=s, scrub=scrub)
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
