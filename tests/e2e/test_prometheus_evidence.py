"""Orient with a real Prometheus: the alert's rule found and summarized, the runbook's PromQL run
with the alert's labels, all within the byte cap; Prometheus down or hanging costs a bounded
few seconds and a line in `errors`, nothing else."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from orchestrator.adapters.prometheus import AlertmanagerClient, PrometheusClient
from orchestrator.events import Alert, AlertReceived, ContextEnriched
from orchestrator.orient.alertcheck import AlertVerdict, watch_alert
from orchestrator.orient.core import orient
from orchestrator.orient.fields import Scrubber
from orchestrator.orient.limits import MetricLimits
from orchestrator.orient.metrics import gather_metrics
from orchestrator.settings.router import RouterSettings
from tests.e2e.conftest import start_alertmanager
from tests.e2e.prometheus_support import Exporter, firing, start_prometheus_rules, wait_value
from tests.fakes.serving import free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.alert_verification]

RUNBOOK = """---
id: checkout_errors
title: Checkout errors
alerts: [CheckoutErrors]
actions: []
---
## How to confirm

```promql
checkout_errors{deployment="$DEPLOY"}
sum(checkout_requests_total{namespace="$NS"})
  / 2
checkout_errors{pod="$POD"}
```
"""


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Exporter, Path]]:
    folder = tmp_path_factory.mktemp("prom")
    exporter = Exporter()
    exporter.set('checkout_errors{deployment="checkout"}', 1)
    exporter.set('checkout_requests_total{namespace="payments"}', 40)
    rules = [{"alert": "CheckoutErrors", "expr": "checkout_errors > 5", "for": "0s",
              "labels": {"severity": "warning", "namespace": "payments"}},
             {"alert": "CheckoutSlow", "expr": "checkout_latency_seconds > 1", "for": "2s"}]
    url, proc = start_prometheus_rules(folder, targets=[exporter.target], rules=rules)
    (folder / "runbooks").mkdir()
    (folder / "runbooks" / "checkout_errors.md").write_text(RUNBOOK)
    try:
        wait_value(url, "checkout_errors", 1)
        exporter.set('checkout_errors{deployment="checkout"}', 9)
        wait_until(lambda: firing(url, "CheckoutErrors"), timeout=30, what="the rule to fire")
        yield url, exporter, folder / "runbooks"
    finally:
        proc.stop()
        exporter.close()


def _alert(exporter: Exporter) -> Alert:
    return Alert(status="firing", fingerprint="c0ffee", starts_at=datetime.now(UTC),
                 labels={"alertname": "CheckoutErrors", "namespace": "payments",
                         "severity": "warning", "deployment": "checkout", "job": "checkout",
                         "instance": exporter.target})


def _orient(alert: Alert, url: str, runbooks: Path, **overrides: object) -> ContextEnriched:
    # A one-minute window at a 1 s step: the rig's Prometheus has only seconds of data.
    s = RouterSettings(prometheus_url=url, runbooks_dir=runbooks, metrics_window_minutes=1,  # type: ignore[arg-type]
                       metrics_max_points=60, **overrides)
    out = orient(received=AlertReceived(incident_key="inc-1", alert=alert), input_id="in-1",
                 reads=None, source="none", settings=s,
                 metrics=PrometheusClient(url, timeout=s.prometheus_timeout_seconds))
    assert isinstance(out.data, ContextEnriched)
    return out.data


def test_the_rule_and_the_runbook_queries_are_summarized(rig) -> None:  # type: ignore[no-untyped-def]
    url, exporter, runbooks = rig
    data = _orient(_alert(exporter), url, runbooks)
    ctx = data.context
    rule = ctx.metrics[0]
    assert (rule.origin, rule.query, rule.threshold) == ("alert-rule", "checkout_errors", "> 5")
    assert (rule.current, rule.min, rule.max) == (9.0, 1.0, 9.0)
    assert rule.crossed_at is not None and rule.crossed_at <= datetime.now(UTC)
    assert rule.points >= 2
    by_query = {m.query: m for m in ctx.metrics[1:]}
    assert set(by_query) == {'checkout_errors{deployment="checkout"}',
                             'sum(checkout_requests_total{namespace="payments"}) / 2'}
    assert all(m.origin == "runbook" for m in by_query.values())
    assert by_query['sum(checkout_requests_total{namespace="payments"}) / 2'].current == 20.0
    assert "runbook checkout_errors: queries needing $POD not run (no such label)" in ctx.cut
    assert ctx.errors == []
    size = len(data.model_dump_json().encode())
    plain = orient(received=AlertReceived(incident_key="inc-1", alert=_alert(exporter)),
                   input_id="in-1", reads=None, source="none", settings=RouterSettings())
    bare = len(plain.data.model_dump_json().encode())
    print(f"context bytes with {len(ctx.metrics)} metric summaries: {size}, without: {bare} "
          f"({size / bare:.2f}x)")
    assert size <= RouterSettings().max_event_bytes


def test_metrics_fit_the_byte_cap_in_priority_order(rig) -> None:  # type: ignore[no-untyped-def]
    url, exporter, runbooks = rig
    alert = _alert(exporter).model_copy(update={"annotations": {
        f"note{n}": "x" * 900 for n in range(5)}})
    whole = _orient(alert, url, runbooks)
    size = len(whole.model_dump_json().encode())
    assert size > 4096 and len(whole.context.metrics) == 3
    cap = size - 150  # well beyond the few bytes two reads of a moving metric differ by
    data = _orient(alert, url, runbooks, max_event_bytes=cap)
    assert len(data.model_dump_json().encode()) <= cap
    assert len(data.context.metrics) < 3
    kept = [m.query for m in data.context.metrics]
    assert kept == [m.query for m in whole.context.metrics][:len(kept)]
    assert any(c.startswith("metric summaries: ") and c.endswith("of 3 dropped (byte cap)")
               for c in data.context.cut), data.context.cut


def test_prometheus_down_is_said_and_nothing_else_breaks(rig) -> None:  # type: ignore[no-untyped-def]
    _, exporter, runbooks = rig
    closed = f"http://127.0.0.1:{free_port()}"
    data = _orient(_alert(exporter), closed, runbooks)
    assert data.context.metrics == []
    assert len(data.context.errors) == 1
    assert data.context.errors[0].startswith(f"prometheus: Prometheus unreachable at {closed}")


def test_a_hanging_prometheus_costs_a_bounded_time(rig) -> None:  # type: ignore[no-untyped-def]
    _, exporter, runbooks = rig
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # accepts and never answers
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        started = time.monotonic()
        data = _orient(_alert(exporter), f"http://127.0.0.1:{listener.getsockname()[1]}",
                       runbooks, prometheus_timeout_seconds=1.0, metrics_budget_seconds=2.0)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        t.join(5)
        for c in accepted:
            c.close()
        listener.close()
    assert elapsed < 3.0
    assert data.context.metrics == []
    assert "timed out" in data.context.errors[0]


def _watch(alert: Alert, url: str, *, seconds: float, alerts: object = None) -> AlertVerdict:
    clock = time.monotonic
    return watch_alert(alert=alert, action="rollout_restart",
                       metrics=PrometheusClient(url, timeout=2), alerts=alerts,  # type: ignore[arg-type]
                       deadline=clock() + seconds, settle=0.5, poll=0.2)


def test_the_rule_expression_alone_tells_firing_from_cleared(rig) -> None:  # type: ignore[no-untyped-def]
    url, exporter, _ = rig
    alert = _alert(exporter).model_copy(update={"starts_at": datetime.now(UTC)})
    still = _watch(alert, url, seconds=1.5)
    assert (still.checked, still.cleared) == (True, False)
    assert re.match(r"alert still firing after \d+s \(rule expression true\): the "
                    "rollout_restart did not fix it", still.text), still.text
    assert still.text.endswith("; metric checkout_errors: 9 → 9 (fires > 5): unchanged")
    exporter.set('checkout_errors{deployment="checkout"}', 2)
    try:
        wait_until(lambda: not firing(url, "CheckoutErrors"), timeout=30, what="the rule to stop")
        cleared = _watch(alert, url, seconds=10)
        assert (cleared.checked, cleared.cleared) == (True, True), cleared.text
        assert cleared.text.startswith("alert cleared: CheckoutErrors rule expression false for ")
        assert cleared.text.endswith("; metric checkout_errors: 9 → 2 (fires > 5): "
                                     "moved the right way"), cleared.text
    finally:
        exporter.set('checkout_errors{deployment="checkout"}', 9)
        wait_until(lambda: firing(url, "CheckoutErrors"), timeout=30, what="the rule to fire")


def test_alertmanager_alone_tells_active_from_resolved(tmp_path: Path) -> None:
    am_url, am = start_alertmanager(tmp_path, webhook="http://127.0.0.1:9/", token="t")
    try:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        labels = {"alertname": "ProbeAlert", "namespace": "payments"}
        httpx.post(f"{am_url}/api/v2/alerts", json=[{"labels": labels, "startsAt": now}],
                   timeout=5, trust_env=False).raise_for_status()
        client = AlertmanagerClient(am_url, timeout=2)
        fingerprint = wait_until(lambda: next(iter(client.active_fingerprints("ProbeAlert")),
                                              None), timeout=30, what="the alert in Alertmanager")
        alert = Alert(status="firing", fingerprint=fingerprint, starts_at=datetime.now(UTC),
                      labels=labels)
        still = watch_alert(alert=alert, action="delete_pod", metrics=None, alerts=client,
                            deadline=time.monotonic() + 1, settle=0.2, poll=0.2)
        assert (still.checked, still.cleared) == (True, False), still.text
        assert "(active in Alertmanager): the delete_pod did not fix it" in still.text
        httpx.post(f"{am_url}/api/v2/alerts", json=[{"labels": labels, "startsAt": now,
                                                     "endsAt": now}],
                   timeout=5, trust_env=False).raise_for_status()
        cleared = watch_alert(alert=alert, action="delete_pod", metrics=None, alerts=client,
                              deadline=time.monotonic() + 10, settle=0.2, poll=0.2)
        assert (cleared.checked, cleared.cleared) == (True, True), cleared.text
        assert cleared.text.startswith("alert cleared: ProbeAlert not active in Alertmanager")
    finally:
        am.stop()


def test_no_prometheus_means_not_checked() -> None:
    alert = Alert(status="firing", fingerprint="f", starts_at=datetime.now(UTC),
                  labels={"alertname": "X"})
    verdict = watch_alert(alert=alert, action="scale", metrics=None, alerts=None,
                          deadline=time.monotonic() + 5, settle=1, poll=1)
    assert verdict == AlertVerdict(False, False, "alert not checked: no Prometheus configured")


def test_series_labels_in_summaries_are_redacted(rig) -> None:  # type: ignore[no-untyped-def]
    url, exporter, _ = rig
    dsn = "postgres://app:hunter2secret@db:5432/shop"
    exporter.set(f'checkout_conn{{namespace="payments",dsn="{dsn}",pod="a"}}', 1)
    exporter.set(f'checkout_conn{{namespace="payments",dsn="{dsn}",pod="b"}}', 2)
    wait_value(url, 'checkout_conn{pod="b"}', 2)
    scrub = Scrubber()
    found = gather_metrics(alert=_alert(exporter), metrics=PrometheusClient(url), rule=None,
                           runbook_queries=['checkout_conn{namespace="payments"}'],
                           limits=MetricLimits(metrics_window_minutes=1, metrics_max_points=60),
                           scrub=scrub)
    assert [m.current for m in found] == [2.0, 1.0]  # worst first
    assert all("hunter2secret" not in m.model_dump_json() for m in found)
    assert 'pod="b"' in found[0].series and 'dsn="[REDACTED:' in found[0].series
    assert any(r.endswith("in metrics") for r in scrub.records()), scrub.records()


def test_the_series_kept_come_from_the_router_s_environment(
        rig, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """ROUTER_METRICS_MAX_SERIES reaches the metrics stage: the settings are its limits."""
    url, exporter, _ = rig
    for pod, value in (("a", 1), ("b", 2), ("c", 3)):
        exporter.set(f'checkout_queue{{namespace="payments",pod="{pod}"}}', value)
    wait_value(url, 'checkout_queue{pod="c"}', 3)
    for name, value in (("ROUTER_METRICS_MAX_SERIES", "2"), ("ROUTER_METRICS_WINDOW_MINUTES", "1"),
                        ("ROUTER_METRICS_MAX_POINTS", "60")):
        monkeypatch.setenv(name, value)
    found = gather_metrics(alert=_alert(exporter), metrics=PrometheusClient(url), rule=None,
                           runbook_queries=['checkout_queue{namespace="payments"}'],
                           limits=RouterSettings(), scrub=Scrubber())
    assert [m.current for m in found] == [3.0, 2.0]  # worst first
    assert found[-1].note == "1 more series not shown"


def test_cleared_means_clear_for_the_rules_for_plus_the_settle_period(rig) -> None:  # type: ignore[no-untyped-def]
    url, exporter, _ = rig
    exporter.set("checkout_latency_seconds", 4)
    wait_until(lambda: firing(url, "CheckoutSlow"), timeout=30, what="CheckoutSlow to fire")
    alert = Alert(status="firing", fingerprint="51077", starts_at=datetime.now(UTC), labels={
        "alertname": "CheckoutSlow", "job": "checkout", "instance": exporter.target})
    exporter.set("checkout_latency_seconds", 0.2)
    wait_value(url, "checkout_latency_seconds", 0.2)
    metrics = PrometheusClient(url, timeout=2)
    started = time.monotonic()
    held = watch_alert(alert=alert, action="scale", metrics=metrics, alerts=None,
                       deadline=started + 20, settle=1, poll=0.2)
    assert held.cleared and time.monotonic() - started >= 3.0, held.text
    assert "(rule for: 2s + settle 1s)" in held.text
    assert held.text.endswith("metric checkout_latency_seconds: 4 → 0.2 (fires > 1): "
                              "moved the right way"), held.text
    short = watch_alert(alert=alert, action="scale", metrics=metrics, alerts=None,
                        deadline=time.monotonic() + 1.0, settle=1, poll=0.2)
    assert short.cleared and "short of the rule's for: 2s + settle 1s" in short.text, short.text
