"""Verification on the alert, end to end: a real Prometheus rule over a metric the test serves,
firing through a real Alertmanager into the embedded stack, a crash-looping Deployment on the
fake Kubernetes API that the executor restarts (enforce mode), and the router's verdict:
- the fix works (object healthy, metric back under the threshold): resolved, "alert cleared",
  with the metric's movement;
- the object heals but the metric does not: escalated, "alert still firing";
- Prometheus goes away mid-verification: the verdict says the alert was not checked, and the
  incident still ends (nothing lost).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator import memory
from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.local.stack import Stack, StackOptions
from tests.e2e.conftest import Process, start_alertmanager
from tests.e2e.prometheus_support import Exporter, start_prometheus_rules
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.serving import free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.alert_verification]
NS, APP = "payments", "checkout"


@dataclass
class Rig:
    stack: Stack
    cluster: FakeKubeAPI
    exporter: Exporter
    series: str
    prom_url: str
    prom: Process
    pod: str

    def events(self, type_: str | None = None) -> list[Any]:
        assert self.stack.broker is not None
        return [e for e in self.stack.broker.events()
                if type_ is None or e.attributes.get("type") == type_]

    def restarted(self) -> bool:
        return any(r.method == "PATCH" and not r.dry_run and "/deployments/" in r.path
                   for r in self.cluster.requests)

    def heal_cluster(self) -> None:
        self.cluster.mutate("Pod", NS, self.pod, ko.heal_pod)
        self.cluster.mutate("Deployment", NS, APP, ko.roll_out)

    def prom_count(self, handler: str) -> float:
        """Requests Prometheus served on `handler`, from its own /metrics (reading it there
        does not count as a query)."""
        text = httpx.get(f"{self.prom_url}/metrics", timeout=5, trust_env=False).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("prometheus_http_requests_total{")
                   and f'handler="{handler}"' in line)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    scenario = ko.stable_crashlooping_deployment(NS, APP)
    pod = scenario["pod"]["metadata"]["name"]
    with ExitStack() as stack_of:
        cluster = stack_of.enter_context(FakeKubeAPI())
        scenario.load(cluster)
        kubeconfig = Path(cluster.write_kubeconfig(str(tmp_path / "kubeconfig")))
        exporter = Exporter()
        stack_of.callback(exporter.close)
        series = f'checkout_crashes{{namespace="{NS}",pod="{pod}",container="app"}}'
        exporter.set(series, 3)
        prom_port = free_port()
        router = {
            "ROUTER_PROMETHEUS_URL": f"http://127.0.0.1:{prom_port}",
            "ROUTER_VERIFY_TIMEOUT_SECONDS": "25", "ROUTER_VERIFY_SETTLE_SECONDS": "2",
            "ROUTER_ALERT_POLL_SECONDS": "0.5", "ROUTER_PROMETHEUS_TIMEOUT_SECONDS": "2",
            "ROUTER_METRICS_WINDOW_MINUTES": "1", "ROUTER_METRICS_MAX_POINTS": "60",
        }
        options = StackOptions(state=tmp_path / "state", enforce=True, kubeconfig=kubeconfig,
                               time_scale=0.05, env={"router": router})
        # Alertmanager needs ingest's URL, and the router Alertmanager's: the router's address
        # of it is set before the stack starts, on a port reserved here.
        am_port = free_port()
        router["ROUTER_ALERTMANAGER_URL"] = f"http://127.0.0.1:{am_port}"
        stack = stack_of.enter_context(Stack(options))
        (tmp_path / "am").mkdir()
        am_url, am = start_alertmanager(tmp_path / "am", webhook=stack.ingest_url,
                                        token=stack.secrets["ingest_token"], port=am_port)
        stack_of.callback(am.stop)
        (tmp_path / "prom").mkdir()
        rules = [{"alert": "KubePodCrashLooping", "expr": "checkout_crashes > 0", "for": "0s",
                  "labels": {"severity": "warning"},
                  "annotations": {"summary": "checkout is crash looping"}}]
        prom_url, prom = start_prometheus_rules(tmp_path / "prom", targets=[exporter.target],
                                                rules=rules, alertmanager=am_url,
                                                port=prom_port)
        stack_of.callback(prom.stop)
        yield Rig(stack, cluster, exporter, series, prom_url, prom, pod)



def _verdict(rig: Rig, timeout: float = 90) -> Any:
    """The router's answer to the executor's report: its reply to `action.completed`."""
    def answered() -> Any:
        done = rig.events("incident.action.completed")
        if not done:
            return None
        return next((e for e in rig.events()
                     if e.attributes.get("source") == "/orchestrator/router"
                     and e.attributes["type"] in ("incident.resolved", "incident.escalated")
                     and e.data.get("how") != "alert-resolved"), None)

    return wait_until(answered, timeout=timeout, what="the router's verdict on the action")


def _after_restart(rig: Rig, then: Callable[[], None]) -> float:
    wait_until(rig.restarted, timeout=90, what="the executor to restart the Deployment")
    restarted_at = time.monotonic()
    then()
    return restarted_at


def test_fix_works_alert_cleared_with_metric_evidence(rig: Rig) -> None:
    def fix() -> None:
        rig.heal_cluster()
        rig.exporter.set(rig.series, 0)

    restarted_at = _after_restart(rig, fix)
    verdict = _verdict(rig)
    took = time.monotonic() - restarted_at
    print(f"action to verified-cleared: {took:.1f} s")
    assert verdict.attributes["type"] == "incident.resolved", verdict.data
    assert verdict.data["how"] == "alert-cleared"
    detail = verdict.data["detail"]
    assert "Deployment payments/checkout healthy" in detail
    assert "alert cleared: KubePodCrashLooping not active in Alertmanager, rule expression " \
           "false for " in detail, detail
    assert "metric checkout_crashes: 3 → 0 (fires > 0): moved the right way" in detail, detail
    # Alertmanager's own `resolved` notification reaches the same incident and closes it too.
    key = verdict.attributes["incidentkey"]
    wait_until(lambda: [e for e in rig.events("incident.resolved")
                        if e.attributes["incidentkey"] == key
                        and e.data.get("how") == "alert-resolved"],
               timeout=60, what="Alertmanager's resolved notification for the incident")
    enriched = rig.events("incident.context.enriched")[0].data["context"]
    assert enriched["metrics"][0]["query"] == "checkout_crashes"
    assert enriched["metrics"][0]["current"] == 3.0
    assert rig.stack.broker is not None and rig.stack.broker.list_deadletters() == []


def test_object_healthy_but_metric_unchanged_escalates(rig: Rig) -> None:
    _after_restart(rig, rig.heal_cluster)
    verdict = _verdict(rig)
    assert verdict.attributes["type"] == "incident.escalated", verdict.data
    assert verdict.data["reason"] == "verification-failed"
    detail = verdict.data["detail"]
    assert "Deployment payments/checkout healthy" in detail
    assert "alert still firing after " in detail
    assert "(active in Alertmanager, rule expression true): the rollout_restart did not fix it" \
        in detail, detail
    assert "metric checkout_crashes: 3 → 3 (fires > 0): unchanged" in detail, detail
    # The console files the failure as remediation memory for the workload.
    store = LocalDirStore(rig.stack.state / "audit")
    (remembered,) = wait_until(lambda: memory.history(
        store, f"{NS}/Deployment/{APP}", since=datetime.now(UTC) - timedelta(hours=1)),
        timeout=30, what="the outcome in remediation memory")
    assert (remembered.runbook, remembered.action, remembered.result) == (
        "k8s_crashloop", "rollout_restart", "failed")


def test_prometheus_unreachable_mid_verification_says_not_checked(rig: Rig) -> None:
    def heal_then_stop_prometheus() -> None:
        rules_seen = rig.prom_count("/api/v1/rules")
        queries_seen = rig.prom_count("/api/v1/query")
        rig.heal_cluster()
        # The router's alert check has begun once it read the rules again and polled twice.
        wait_until(lambda: rig.prom_count("/api/v1/rules") > rules_seen
                   and rig.prom_count("/api/v1/query") >= queries_seen + 3,
                   timeout=60, what="the router's alert check to start polling")
        rig.prom.stop()

    _after_restart(rig, heal_then_stop_prometheus)
    verdict = _verdict(rig)
    assert verdict.attributes["type"] == "incident.resolved", verdict.data
    assert verdict.data["how"] == "verified-healthy"
    detail = verdict.data["detail"]
    assert "Deployment payments/checkout healthy" in detail
    assert "alert not checked: Prometheus unreachable at " in detail, detail
    assert "last seen: active in Alertmanager, rule expression true" in detail, detail
    assert rig.stack.broker is not None and rig.stack.broker.list_deadletters() == []
