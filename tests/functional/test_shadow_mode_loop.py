"""Shadow mode end to end: the real local broker and the five real function processes against
the fake Kubernetes API, every namespace at `observe`. A crash-looping Deployment becomes an
incident, a plan, and a "would do" record; the API server sees nothing but GET requests (no
write, no server-side dry run, no Event, no Lease); the trust report counts the record.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.console import trust
from orchestrator.console.thresholds import TrustThresholds
from orchestrator.local.replay import push, timelines
from orchestrator.local.stack import Stack, StackOptions
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.functional.test_loop_fake_cluster import APP, NS, _alert_for

pytestmark = pytest.mark.slow

# The allow list names another namespace: at observe it no longer refuses this one.
SHADOW_POLICY = """\
mode: observe
namespaces:
  allow: [default]
  deny: [kube-system, kube-public, kube-node-lease]
"""


def test_observe_runs_the_whole_loop_and_the_api_sees_only_reads(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(SHADOW_POLICY)
    with FakeKubeAPI() as api:
        scenario = ko.stable_crashlooping_deployment(NS, APP).load(api)
        options = StackOptions(
            state=tmp_path / "state", enforce=False, policy_file=policy,
            kubeconfig=Path(api.write_kubeconfig(str(tmp_path / "kubeconfig"))),
            cluster_name="prod-eu-west-1", time_scale=0.05,
            env={"executor": {"EXECUTOR_MODE": "observe"}})
        with Stack(options) as stack:
            assert stack.broker is not None
            keys = push(stack, [_alert_for(scenario["pod"])])
            assert stack.broker.wait_idle(90), stack.broker.stats()
            (incident,) = timelines(stack, keys)
        methods = sorted({r.method for r in api.requests})
        executor_reads = [r for r in api.requests if "/deployments/" in r.path]
    types = [e.type for e in incident.events]
    assert "incident.plan.proposed" in types, types
    completed = next(e for e in incident.events if e.type == "incident.action.completed")
    assert completed.data["mode"] == "observe"
    (result,) = completed.data["results"]
    assert (result["action"]["type"], result["outcome"]) == ("rollout_restart", "would-do")
    assert "nothing executed at level observe" in result["api_result"]
    assert incident.outcome == "escalated (observe)", incident.events[-1].data
    assert methods == ["GET"], "shadow mode sent a non-GET request to the API server"
    assert executor_reads, "the executor read nothing of its own"
    (scope,) = trust.report(LocalDirStore(tmp_path / "state" / "audit"), since=None,
                            thresholds=TrustThresholds())
    assert (scope.namespace, scope.workload, scope.level) == (NS, f"{NS}/Deployment/{APP}",
                                                              "observe")
    assert dict(scope.would_do) == {"rollout_restart": 1} and not scope.did
    assert dict(scope.escalations) == {"observe": 1} and not scope.refusals
