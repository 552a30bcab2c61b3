"""Duplicate and out-of-order delivery change nothing: the same scenarios through the real stack,
once normally and once with the local broker delivering every event twice in shuffled order,
end with the same actions on the cluster, the same audit log and the same approvals.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from orchestrator.adapters.objects import LocalDirStore
from orchestrator.console import audit
from orchestrator.console.status import status_of
from orchestrator.local.replay import push
from orchestrator.local.stack import Stack, StackOptions
from tests.conftest import load_event
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI

pytestmark = pytest.mark.slow


def _alert(ns: str, pod: str, fingerprint: str, alertname: str = "KubePodCrashLooping") -> Any:
    payload = load_event("alertmanager_crashloop")
    alert = payload["alerts"][0]
    alert["labels"].update(alertname=alertname, namespace=ns, pod=pod, container="app")
    alert["fingerprint"] = fingerprint
    alert["startsAt"] = "2026-11-27T01:00:00Z"
    return payload


def _scenarios() -> list[ko.Scenario]:
    stable = ko.crashlooping_deployment("shop", "checkout")
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stable.roles["replicaset"]["metadata"]["creationTimestamp"] = old
    stable.objects = [o for o in stable.objects if o is not stable.roles["old_replicaset"]]
    fresh = ko.crashlooping_deployment("payments", "cart")  # a fresh bad rollout: approval
    return [stable, fresh]


def _run(tmp_path: Path, *, chaos: bool) -> dict[str, Any]:
    with FakeKubeAPI() as api:
        scenarios = [s.load(api) for s in _scenarios()]
        payloads = [_alert(s.namespace, s["pod"]["metadata"]["name"], f"{i + 1:016x}")
                    for i, s in enumerate(scenarios)]
        watchdog = load_event("alertmanager_crashloop")
        watchdog["alerts"][0]["labels"] = {"alertname": "Watchdog", "severity": "none"}
        watchdog["alerts"][0]["fingerprint"] = "00000000000000ff"
        payloads.append(watchdog)
        options = StackOptions(
            state=tmp_path / ("chaos" if chaos else "normal"), enforce=True, chaos=chaos,
            seed=7, kubeconfig=Path(api.write_kubeconfig(str(tmp_path / "kubeconfig"))),
            cluster_name="prod-eu-west-1", time_scale=0.05,
            env={"router": {"ROUTER_VERIFY_TIMEOUT_SECONDS": "3",
                            "ROUTER_VERIFY_SETTLE_SECONDS": "1"}})
        with Stack(options) as stack:
            assert stack.broker is not None
            keys = push(stack, payloads)
            assert stack.broker.wait_idle(180), stack.broker.stats()
            writes = sorted((r.method, r.path) for r in api.requests
                            if r.method in ("PATCH", "POST", "DELETE", "PUT") and not r.dry_run
                            and "/leases" not in r.path and "/events" not in r.path)
        store = LocalDirStore(options.state / "audit")
        log = {}
        for key in keys:
            records = audit.read(store, key)
            status, _ = status_of(records)
            log[key] = (status, sorted({r.id for r in records}),
                        sorted(r.type for r in records if r.type.endswith("approval.requested")))
    return {"writes": writes, "log": log}


def test_chaos_delivery_reaches_the_same_end_state(tmp_path: Path) -> None:
    normal = _run(tmp_path, chaos=False)
    chaos = _run(tmp_path, chaos=True)
    assert len(normal["writes"]) == 1, normal["writes"]  # one restart; the rollback waits
    assert chaos["writes"] == normal["writes"]
    assert chaos["log"] == normal["log"]
    # The restarted workload never heals in the fake (no controllers): verification escalates.
    assert sorted(status for status, _, _ in normal["log"].values()) == [
        "awaiting approval", "escalated", "escalated"]
