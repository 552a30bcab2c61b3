"""Real Alertmanager → ingest (bearer) → local broker → router, firing and resolved; and a real
Prometheus rule firing on a target that stops answering.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from orchestrator.events import ALERT_RECEIVED, CONTEXT_ENRICHED, RESOLVED
from orchestrator.local.stack import Stack
from tests.e2e.conftest import start_alertmanager, start_prometheus
from tests.e2e.prometheus_support import Exporter
from tests.fakes.serving import wait_until

pytestmark = pytest.mark.e2e


def _events(stack: Stack, type_: str, alertname: str) -> list[dict]:  # type: ignore[type-arg]
    assert stack.broker is not None
    found = []
    for e in stack.broker.events():
        data = e.data
        if e.attributes.get("type") != type_ or not isinstance(data, dict):
            continue
        alert = data.get("alert") or {}
        if alert.get("labels", {}).get("alertname") == alertname:
            found.append({"attributes": e.attributes, "data": data})
    return found


@pytest.fixture
def alertmanager(stack: Stack, tmp_path: Path) -> Iterator[str]:
    url, proc = start_alertmanager(tmp_path, webhook=stack.ingest_url,
                                   token=stack.secrets["ingest_token"])
    try:
        yield url
    finally:
        proc.stop()


def _post_alert(am: str, labels: dict[str, str], *, ends: bool = False) -> None:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    alert = {"labels": labels, "annotations": {"summary": "checkout is crash looping"},
             "startsAt": now, "generatorURL": "http://prometheus.example/graph"}
    if ends:
        alert["endsAt"] = now
    r = httpx.post(f"{am}/api/v2/alerts", json=[alert], timeout=5, trust_env=False)
    assert r.status_code == 200, r.text


def test_alert_fires_and_resolves_through_the_loop(stack: Stack, alertmanager: str) -> None:
    labels = {"alertname": "KubePodCrashLooping", "namespace": "payments",
              "pod": "checkout-7d9f8b6c5-x2k4q", "severity": "warning"}
    _post_alert(alertmanager, labels)
    enriched = wait_until(lambda: _events(stack, CONTEXT_ENRICHED, "KubePodCrashLooping"),
                          timeout=30, what="the router's context.enriched")
    received = _events(stack, ALERT_RECEIVED, "KubePodCrashLooping")
    assert received[0]["attributes"]["source"] == "/orchestrator/ingest"
    assert received[0]["data"]["alert"]["source"] == alertmanager
    key = enriched[0]["attributes"]["incidentkey"]
    assert received[0]["attributes"]["partitionkey"] == received[0]["data"]["alert"]["fingerprint"]

    _post_alert(alertmanager, labels, ends=True)
    resolved = wait_until(
        lambda: [e for e in _events(stack, RESOLVED, "KubePodCrashLooping")
                 if e["attributes"]["incidentkey"] == key],
        timeout=30, what="incident.resolved for the same incident",
    )
    assert resolved[0]["data"]["how"] == "alert-resolved"


def test_wrong_token_is_refused_and_nothing_enters_the_broker(
    stack: Stack, tmp_path: Path
) -> None:
    url, proc = start_alertmanager(tmp_path, webhook=stack.ingest_url, token="not-the-token")
    try:
        _post_alert(url, {"alertname": "WrongTokenProbe", "namespace": "payments"})

        def failed_notifications() -> float:
            metrics = httpx.get(f"{url}/metrics", timeout=5, trust_env=False).text
            total = 0.0
            for line in metrics.splitlines():
                if line.startswith("alertmanager_notifications_failed_total") and \
                        'integration="webhook"' in line:
                    total += float(line.rsplit(" ", 1)[1])
            return total

        wait_until(failed_notifications, timeout=30, what="Alertmanager to record the 401")
        assert _events(stack, ALERT_RECEIVED, "WrongTokenProbe") == []
    finally:
        proc.stop()


def test_prometheus_rule_fires_when_a_target_refuses_connections(
    stack: Stack, alertmanager: str, tmp_path: Path
) -> None:
    exporter = Exporter()
    exporter.set("checkout_up", 1)
    target = exporter.target
    try:
        prom_url, prom = start_prometheus(tmp_path, target=target, alertmanager=alertmanager)
        try:
            def scraped_up() -> bool:
                r = httpx.get(f"{prom_url}/api/v1/query", params={"query": 'up{job="checkout"}'},
                              timeout=5, trust_env=False).json()
                result = r["data"]["result"]
                return bool(result) and result[0]["value"][1] == "1"

            wait_until(scraped_up, timeout=30, what="Prometheus to scrape the target once")
            # The process stays alive; only its port stops accepting connections.
            exporter.close()
            enriched = wait_until(lambda: _events(stack, CONTEXT_ENRICHED, "TargetDown"),
                                  timeout=60, what="TargetDown to reach the router")
            alert = enriched[0]["data"]["alert"]
            assert alert["labels"]["instance"] == target
            assert alert["generator_url"].startswith(prom_url)
        finally:
            prom.stop()
    finally:
        exporter.close()
