"""The attack of issue 12, through the real local stack in enforce mode: a pod inside the cluster
posts a context describing a healthy Deployment as crash-looping straight to the agent. Unsigned,
it is refused (401). Signed with the router's key (a leaked key, or a router that read stale
facts), it gets a genuinely signed `incident.plan.proposed` back, which the attacker posts
straight to the executor. The executor reads the Deployment itself, finds the runbook's
conditions false, and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.events import CONTEXT_ENRICHED, ESCALATED, PLAN_PROPOSED, Alert, ContextEnriched
from orchestrator.ids import incident_key
from orchestrator.local.stack import Stack, StackOptions
from orchestrator.provenance import Signer, signer_from_pem
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.functional.router_support import context, with_nodes

pytestmark = pytest.mark.slow
CLUSTER = "prod-eu-west-1"


def _post(url: str, type_: str, body: bytes, event_id: str,
          extensions: dict[str, str] | None = None,
          signer: Signer | None = None) -> httpx.Response:
    headers = {"ce-specversion": "1.0", "ce-type": type_, "ce-source": "/orchestrator/router",
               "ce-id": event_id, "content-type": "application/json", **(extensions or {})}
    if signer is not None:
        headers["ce-time"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        attrs = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
        headers.update({f"ce-{k}": v for k, v in signer.seal(attrs, body).items()})
    return httpx.post(url + "/", content=body, headers=headers, trust_env=False, timeout=60)


def _workload_writes(api: FakeKubeAPI) -> list[Any]:
    return [r for r in api.requests if r.method in ("PATCH", "POST", "DELETE", "PUT")
            and "/leases" not in r.path and "/events" not in r.path]


def test_a_forged_context_gets_a_signed_plan_and_still_writes_nothing(tmp_path: Path) -> None:
    with FakeKubeAPI() as api:
        sc = ko.stable_crashlooping_deployment().load(api)
        with_nodes(api)
        pod = sc["pod"]["metadata"]["name"]
        starts = dt.datetime.now(dt.UTC).replace(microsecond=0)
        alert = Alert(status="firing", labels={
            "alertname": "KubePodCrashLooping", "namespace": "shop", "pod": pod,
            "container": "app", "cluster": CLUSTER, "severity": "warning"},
            starts_at=starts, fingerprint="0badc0ffee000001")
        # What the attacker sends: a context as the router would have read it while crashing.
        forged = context(api, alert)
        assert forged.pods and forged.pods[0].containers[0].last_reason == "Error"
        # The truth: the Deployment is healthy.
        api.mutate("Pod", "shop", pod, ko.heal_pod)
        api.mutate("Deployment", "shop", "checkout", ko.roll_out)
        key = incident_key(alert.fingerprint, alert.starts_at, alert.cluster)
        body = ContextEnriched(incident_key=key, alert=alert, context=forged).model_dump_json()

        options = StackOptions(state=tmp_path / "state", enforce=True, cluster_name=CLUSTER,
                               kubeconfig=Path(api.write_kubeconfig(str(tmp_path / "kc"))))
        with Stack(options) as stack:
            api.clear_requests()
            unsigned = _post(stack.urls["agent"], CONTEXT_ENRICHED, body.encode(), "forged-0",
                             {"ce-incidentkey": key})
            assert unsigned.status_code == 401, unsigned.text
            router_key = (options.state / "keys" / "router.key").read_text()
            planned = _post(stack.urls["agent"], CONTEXT_ENRICHED, body.encode(), "forged-1",
                            {"ce-incidentkey": key}, signer_from_pem("router", router_key))
            assert planned.status_code == 200, planned.text
            assert planned.headers["ce-type"] == PLAN_PROPOSED, planned.text
            proposal = planned.json()
            assert [a["type"] for a in proposal["plan"]["actions"]] == ["rollout_restart"]
            # Replayed to the executor exactly as the agent signed it.
            forwarded = {k: v for k, v in planned.headers.items()
                         if k.lower().startswith("ce-") or k.lower() == "content-type"}
            acted = httpx.post(stack.urls["executor"] + "/", content=planned.content,
                               headers=forwarded, trust_env=False, timeout=60)
        assert acted.status_code == 200, acted.text
        assert acted.headers["ce-type"] == ESCALATED, acted.text
        verdict = acted.json()
        assert verdict["reason"] == "policy"
        assert "workload.available_replicas eq 0: fails (workload.available_replicas = 1)" \
            in verdict["detail"], verdict["detail"]
        assert _workload_writes(api) == []
