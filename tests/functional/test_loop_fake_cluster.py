"""The whole loop through the real local broker and the five real function processes, against
the fake Kubernetes API: a crash-looping pod ends in one automatic action in enforce mode, in a
dry-run record in dry-run mode, and in an approval request when policy wants a human.
"""

from __future__ import annotations

import copy
import datetime as dt
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.local.replay import push, timelines
from orchestrator.local.stack import Stack, StackOptions, local_user
from tests.conftest import load_event
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.serving import wait_until

pytestmark = pytest.mark.slow
NS, APP = "payments", "checkout"


def _alert_for(pod: dict[str, Any]) -> dict[str, Any]:
    payload = load_event("alertmanager_crashloop")
    alert = payload["alerts"][0]
    alert["labels"].update(namespace=NS, pod=pod["metadata"]["name"], container="app")
    alert["fingerprint"] = f"{abs(hash(pod['metadata']['name'])) % 16**16:016x}"
    alert["startsAt"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    return payload


@pytest.fixture
def cluster() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as api:
        yield api


def _run(tmp_path: Path, api: FakeKubeAPI, scenario: ko.Scenario, *, enforce: bool,
         during: Callable[[Stack], None] | None = None) -> dict[str, Any]:
    scenario.load(api)
    kubeconfig = Path(api.write_kubeconfig(str(tmp_path / "kubeconfig")))
    options = StackOptions(
        state=tmp_path / "state", enforce=enforce, kubeconfig=kubeconfig,
        cluster_name="prod-eu-west-1", time_scale=0.05,
        env={"router": {"ROUTER_VERIFY_TIMEOUT_SECONDS": "20",
                        "ROUTER_VERIFY_SETTLE_SECONDS": "1"}},
    )
    with Stack(options) as stack:
        assert stack.broker is not None
        keys = push(stack, [_alert_for(scenario["pod"])])
        if during is not None:
            during(stack)
        assert stack.broker.wait_idle(90), stack.broker.stats()
        (incident,) = timelines(stack, keys)
    return {"outcome": incident.outcome, "types": [e.type for e in incident.events],
            "events": incident.events}


def _writes(api: FakeKubeAPI) -> list[Any]:
    return [r for r in api.requests if r.method in ("PATCH", "POST", "DELETE", "PUT")
            and not r.dry_run and "/leases" not in r.path and "/events" not in r.path]


def test_enforce_restarts_once_and_verifies_the_recovery(tmp_path: Path, cluster) -> None:  # type: ignore[no-untyped-def]
    scenario = ko.stable_crashlooping_deployment(NS, APP)

    def heal(stack: Stack) -> None:
        wait_until(lambda: [r for r in _writes(cluster) if "deployments" in r.path], timeout=60,
                   what="the executor to restart the deployment")
        pod = scenario["pod"]["metadata"]["name"]

        cluster.mutate("Pod", NS, pod, ko.heal_pod)
        cluster.mutate("Deployment", NS, APP, ko.roll_out)

    result = _run(tmp_path, cluster, scenario, enforce=True, during=heal)
    assert "incident.action.completed" in result["types"], result["types"]
    completed = next(e for e in result["events"] if e.type == "incident.action.completed")
    (action,) = completed.data["results"]
    assert action["action"]["type"] == "rollout_restart"
    assert action["outcome"] == "applied"
    patches = [r for r in _writes(cluster) if "deployments" in r.path]
    assert len(patches) == 1, [r.path for r in patches]
    template = copy.deepcopy(cluster.get("Deployment", NS, APP))["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    assert result["outcome"] == "resolved (verified-healthy)", result["events"][-1].data


def test_dry_run_writes_nothing_and_says_so(tmp_path: Path, cluster) -> None:  # type: ignore[no-untyped-def]
    scenario = ko.stable_crashlooping_deployment(NS, APP)
    result = _run(tmp_path, cluster, scenario, enforce=False)
    completed = next(e for e in result["events"] if e.type == "incident.action.completed")
    assert completed.data["mode"] == "dry-run"
    assert [r["outcome"] for r in completed.data["results"]] == ["dry-run"]
    assert _writes(cluster) == []
    assert [r for r in cluster.requests if r.dry_run], "no server-side dry run was made"
    assert result["outcome"] == "escalated (dry-run)"


def test_a_fresh_bad_rollout_asks_a_human_and_acts_on_the_approval(
    tmp_path: Path, cluster  # type: ignore[no-untyped-def]
) -> None:
    scenario = ko.crashlooping_deployment(NS, APP)  # revision 20 minutes old: rollback
    seen: dict[str, Any] = {}

    def approve(stack: Stack) -> None:
        assert stack.broker is not None
        assert stack.broker.wait_idle(60)
        requests = [e for e in stack.broker.events()
                    if e.attributes["type"] == "incident.approval.requested"]
        assert requests, [e.attributes["type"] for e in stack.broker.events()]
        seen["request"] = requests[0].data
        assert _writes(cluster) == [], "nothing may change before a human approves"
        plan_id = requests[0].data["plan"]["plan_id"]
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "approve", plan_id,
             "--console", stack.console_url, "--state", str(stack.state)],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    result = _run(tmp_path, cluster, scenario, enforce=True, during=approve)
    request = seen["request"]
    assert [a["type"] for a in request["plan"]["actions"]] == ["rollback"]
    assert request["signature"].startswith("ed25519:executor/")
    assert "incident.plan.approved" in result["types"], result["types"]
    completed = next(e for e in result["events"] if e.type == "incident.action.completed")
    assert completed.data["approver"] == local_user()
    assert [r["outcome"] for r in completed.data["results"]] == ["applied"]
    assert len([r for r in _writes(cluster) if "deployments" in r.path]) == 1
