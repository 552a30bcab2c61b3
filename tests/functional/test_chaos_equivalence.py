"""Duplicate and out-of-order delivery change nothing: the same scenarios through the real stack,
once normally and once with the local broker delivering every event twice in shuffled order
(chaos mode), end with the same writes on the cluster, the same audit log (event ids and derived
status per incident) and the same approvals.

Scenarios: an automatic restart that heals; a rollback a human approves; one a human rejects;
one whose alert resolves while it awaits approval (the approval is cancelled); an alert no
runbook covers. The decisions are taken through the console's API, as `orchestrator approve`
does, once each incident waits for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.console import audit
from orchestrator.console.status import status_of
from orchestrator.events import (
    ALERT_RECEIVED,
    APPROVAL_REQUESTED,
    CONTEXT_ENRICHED,
    PLAN_APPROVED,
    PLAN_PROPOSED,
    PLAN_REJECTED,
)
from orchestrator.local.replay import push
from orchestrator.local.stack import Stack, StackOptions
from tests.conftest import load_event
from tests.fakes import kube_objects as ko
from tests.fakes.faults import Controllers
from tests.fakes.kube_api import FakeKubeAPI

pytestmark = pytest.mark.slow
CLUSTER = "prod-eu-west-1"
STARTS = "2026-11-27T01:00:00Z"
# Ids that do not depend on a human's clock: a decision's id includes the time the executor
# asked (so a second request for the same plan gets a new decision), hence everything after a
# decision has run-specific ids, in two normal runs just the same.
_CLOCK_FREE = {ALERT_RECEIVED, CONTEXT_ENRICHED, PLAN_PROPOSED, APPROVAL_REQUESTED}


SCENARIOS = {  # name: (scenario factory, fingerprint)
    "restart": (lambda: ko.stable_crashlooping_deployment("shop", "checkout"), "00000000000000a1"),
    "approve": (lambda: ko.crashlooping_deployment("payments", "cart"), "00000000000000a2"),
    "reject": (lambda: ko.crashlooping_deployment("billing", "invoice"), "00000000000000a3"),
    "cancel": (lambda: ko.crashlooping_deployment("search", "indexer"), "00000000000000a4"),
}


def _alert(s: ko.Scenario, fingerprint: str, status: str = "firing") -> dict[str, Any]:
    payload = load_event("alertmanager_crashloop")
    alert = payload["alerts"][0]
    alert["labels"].update(namespace=s.namespace, pod=s["pod"]["metadata"]["name"],
                           container="app", cluster=CLUSTER)
    alert.update(fingerprint=fingerprint, startsAt=STARTS, status=status)
    if status == "resolved":
        payload["status"] = "resolved"
        alert["endsAt"] = "2026-11-27T01:30:00Z"
    return payload


def _watchdog() -> dict[str, Any]:
    payload = load_event("alertmanager_crashloop")
    payload["alerts"][0].update(labels={"alertname": "Watchdog", "severity": "none"},
                                fingerprint="00000000000000ff", startsAt=STARTS)
    return payload


def _decide(stack: Stack, plan_id: str, verb: str) -> None:
    r = httpx.post(f"{stack.console_url}/api/approvals/{plan_id}/{verb}",
                   json={}, trust_env=False, timeout=30,
                   headers={"Authorization": f"Bearer {stack.secrets['approver_token']}"})
    assert r.status_code == 202, (verb, r.status_code, r.text)


def _run(tmp_path: Path, *, chaos: bool) -> dict[str, Any]:
    state = tmp_path / ("chaos" if chaos else "normal")
    with FakeKubeAPI() as api, Controllers(api):
        scenarios = {name: make().load(api) for name, (make, _) in SCENARIOS.items()}
        firing = [_alert(scenarios[n], fp) for n, (_, fp) in SCENARIOS.items()] + [_watchdog()]
        options = StackOptions(
            state=state, enforce=True, chaos=chaos, seed=7, cluster_name=CLUSTER,
            kubeconfig=Path(api.write_kubeconfig(str(tmp_path / "kubeconfig"))),
            time_scale=0.05, env={"router": {"ROUTER_VERIFY_TIMEOUT_SECONDS": "20",
                                             "ROUTER_VERIFY_SETTLE_SECONDS": "0.5"}})
        with Stack(options) as stack:
            assert stack.broker is not None
            keys = dict(zip([*SCENARIOS, "watchdog"], push(stack, firing), strict=True))
            assert stack.broker.wait_idle(120), stack.broker.stats()
            asked = {name: [e.data["plan"]["plan_id"] for e in stack.broker.events(keys[name])
                            if e.attributes["type"] == APPROVAL_REQUESTED]
                     for name in ("approve", "reject", "cancel")}
            assert all(asked.values()), asked
            _decide(stack, asked["approve"][0], "approve")
            _decide(stack, asked["reject"][0], "reject")
            push(stack, [_alert(scenarios["cancel"], SCENARIOS["cancel"][1], "resolved")])
            assert stack.broker.wait_idle(120), stack.broker.stats()
            assert stack.broker.list_deadletters() == []
            delivered = stack.broker.stats()["done"]
            writes = sorted((r.method, r.path) for r in api.requests
                            if r.method in ("PATCH", "POST", "DELETE", "PUT") and not r.dry_run
                            and "/leases" not in r.path and "/events" not in r.path)
    store = LocalDirStore(state / "audit")
    log, approvals = {}, {}
    for name, key in keys.items():
        records = audit.read(store, key)
        decided = any(r.type in (PLAN_APPROVED, PLAN_REJECTED) for r in records)
        log[name] = {
            "status": status_of(records)[0],
            "types": sorted(r.type for r in records),  # a duplicate would show twice
            "ids": sorted(r.id for r in records if not decided or r.type in _CLOCK_FREE),
        }
        approvals[name] = sorted(
            (r.type, r.data["plan"]["plan_id"], r.data.get("approver", ""),
             tuple(a["type"] for a in r.data["plan"]["actions"]))
            for r in records if r.type in (APPROVAL_REQUESTED, PLAN_APPROVED, PLAN_REJECTED))
    return {"writes": writes, "log": log, "approvals": approvals, "delivered": delivered}


def test_chaos_delivery_reaches_the_same_end_state(tmp_path: Path) -> None:
    normal = _run(tmp_path, chaos=False)
    chaos = _run(tmp_path, chaos=True)
    # What the normal run must show, so that equality below means something.
    assert {n: v["status"] for n, v in normal["log"].items()} == {
        "restart": "resolved", "approve": "resolved", "reject": "escalated",
        "cancel": "resolved", "watchdog": "escalated"}, normal["log"]
    deployments = [w for w in normal["writes"] if "/deployments/" in w[1]]
    assert [w[1].rsplit("/", 1)[-1] for w in deployments] == ["cart", "checkout"], normal
    assert [a[0] for a in normal["approvals"]["approve"]] == [APPROVAL_REQUESTED, PLAN_APPROVED]
    assert [a[0] for a in normal["approvals"]["reject"]] == [APPROVAL_REQUESTED, PLAN_REJECTED]
    assert [a[0] for a in normal["approvals"]["cancel"]] == [APPROVAL_REQUESTED]

    # Every delivery made twice, and the replies to both copies published: far more work.
    assert chaos["delivered"] >= 2 * normal["delivered"], (normal["delivered"],
                                                           chaos["delivered"])
    assert chaos["writes"] == normal["writes"]
    assert chaos["approvals"] == normal["approvals"]
    assert chaos["log"] == normal["log"], _diff(normal["log"], chaos["log"])


def _diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}

