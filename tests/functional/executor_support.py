"""Test harness for the executor: the real functions-framework app of functions/executor/main.py,
configured only through EXECUTOR_* variables, talking to the fake Kubernetes API server.

Events are built from the `orchestrator.events` models and POSTed in binary mode, as the broker
delivers them; replies are parsed back into the models.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import functions_framework

import orchestrator.act.service as service
from orchestrator.context import ObjectRef
from orchestrator.events import MODELS, PLAN_PROPOSED, Alert, PlanProposed
from orchestrator.ids import incident_key
from orchestrator.models import Frozen
from orchestrator.plan import Action, Citation, Plan
from tests import keys
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI, RecordedRequest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "test-cluster"
BUDGET_NS = "incident-orchestrator"
STARTS = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ENFORCE = """
mode: enforce
approvers: ["alice@example.com"]
"""
# No packaged runbook allows `scale` (capacity is a human decision there); this one does, so
# the scale path can be exercised through the same runbook check as every other action.
SCALE_RUNBOOK = """---
id: capacity_test
title: Not enough replicas (test runbook)
alerts: [KubeDeploymentUnderCapacity]
actions:
  - type: scale
    risk: medium
    target: owner
    why: The workload is short of replicas for its load.
    when:
      - {fact: workload.available_replicas, op: gte, value: 0}
---

## What to do

Add replicas, a few at a time.
"""
# Tests of the executor's mechanics (eviction, conflicts, idempotence, budget) cite this one:
# each action on the object a runbook names for it, when the executor could read the cluster.
# Whether a real runbook's conditions hold on the live objects is tested with the packaged
# runbooks (test_executor_evidence.py).
MECHANICS_RUNBOOK = """---
id: mechanics_test
title: Every action where the cluster was read (test runbook)
alerts: [MechanicsTest]
actions:
""" + "".join(f"""  - type: {type_}
    risk: low
    target: {target}
    why: Exercises the executor's {type_} path.
    when:
      - {{fact: cluster.available, op: eq, value: true}}
""" for type_, target in (("delete_pod", "pod"), ("rollout_restart", "owner"),
                          ("rollback", "owner"), ("delete_failed_job", "job"),
                          ("cordon_node", "node"))) + """---

## What to do

Whatever the test asks.
"""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    data: Frozen | None = None

    @property
    def type(self) -> str | None:
        return self.headers.get("ce-type")


@dataclass
class Harness:
    api: FakeKubeAPI
    client: Any
    policy_path: Path
    tmp: Path
    sent: int = 0
    replies: list[Reply] = field(default_factory=list)

    def set_policy(self, text: str) -> None:
        """Rewrite the policy file; the executor reloads it on the next event (mtime moves)."""
        before = self.policy_path.stat().st_mtime_ns if self.policy_path.exists() else 0
        self.policy_path.write_text(text)
        os.utime(self.policy_path, ns=(before + 10**9, before + 10**9))

    def send(self, type_: str, data: Frozen, *, event_id: str | None = None,
             partitionkey: str | None = None, client: Any = None, signed: bool = True,
             time: str | None = None) -> Reply:
        """POST one event as the broker delivers it, signed by the producer its type comes
        from (`signed=False`: unsigned, as a forger without a key sends it)."""
        self.sent += 1
        key = getattr(data, "incident_key", "incident")
        headers = {"ce-specversion": "1.0", "ce-type": type_, "ce-source": "/orchestrator/test",
                   "ce-id": event_id or f"input-{self.sent}", "ce-incidentkey": key,
                   "Content-Type": "application/json"}
        if partitionkey:
            headers["ce-partitionkey"] = partitionkey
        if time:
            headers["ce-time"] = time
        body = data.model_dump_json().encode()
        if signed:
            headers = keys.seal(headers, body)
        r = (client or self.client).post("/", data=body, headers=headers)
        hdrs = {k.lower(): v for k, v in r.headers.items()}
        body = json.loads(r.data) if r.data else None
        reply = Reply(r.status_code, hdrs, body)
        if r.status_code == 200 and hdrs.get("ce-type") in MODELS:
            reply.data = MODELS[hdrs["ce-type"]].model_validate(body)
        self.replies.append(reply)
        return reply

    def propose(self, proposal: PlanProposed, **kw: Any) -> Reply:
        """Send a proposal as the agent would: signed with the agent's key (`signed=False`
        sends it unsigned)."""
        return self.send(PLAN_PROPOSED, proposal, **kw)

    def new_client(self) -> Any:
        return executor_app().test_client()

    def writes(self, *, dry_run: bool | None = False) -> list[RecordedRequest]:
        """Non-GET requests (dry runs excluded by default; None = both)."""
        return [r for r in self.api.requests if r.method != "GET"
                and (dry_run is None or r.dry_run == dry_run)]

    def workload_writes(self) -> list[RecordedRequest]:
        """Real writes other than the executor's own bookkeeping (Leases, Events)."""
        return [r for r in self.writes() if "/leases" not in r.path and "/events" not in r.path]

    def events(self, namespace: str) -> list[dict[str, Any]]:
        return self.api.objects("Event", namespace)

    def leases(self) -> list[dict[str, Any]]:
        return self.api.objects("Lease", BUDGET_NS)


def executor_app() -> Any:
    return functions_framework.create_app(
        target="handle", source=str(ROOT / "functions/executor/main.py"), signature_type="http")


def reset_service() -> None:
    service.instance.reset()


def alert(labels: dict[str, str], *, alertname: str = "KubePodCrashLooping",
          fingerprint: str = "f00dfeed12345678", status: str = "firing",
          annotations: dict[str, str] | None = None) -> Alert:
    base = {"alertname": alertname, "cluster": CLUSTER, "severity": "warning"}
    return Alert(status=status, labels={**base, **labels},  # type: ignore[arg-type]
                 annotations=annotations or {}, starts_at=STARTS, fingerprint=fingerprint)


def ref(kind: str, name: str, namespace: str | None = None, uid: str | None = None) -> ObjectRef:
    return ObjectRef(kind=kind, name=name, namespace=namespace, uid=uid)


def proposal(the_alert: Alert, *actions: Action, plan_id: str = "plan-1",
             runbooks: tuple[str, ...] = ("mechanics_test",), key: str | None = None,
             fingerprint: str | None = None) -> PlanProposed:
    key = key or incident_key(the_alert.fingerprint, the_alert.starts_at, the_alert.cluster)
    plan = Plan(plan_id=plan_id, incident_key=key,
                fingerprint=fingerprint or the_alert.fingerprint,
                hypothesis="the application exits with an error after a dependency outage",
                confidence=0.8, citations=[Citation(runbook=r, heading="What to do")
                                           for r in runbooks],
                actions=list(actions), model="offline-test", offline=True, created_at=STARTS)
    return PlanProposed(incident_key=key, alert=the_alert, plan=plan)


def action(type_: str, target: ObjectRef, **parameters: int | str) -> Action:
    return Action(type=type_, target=target, parameters=parameters)  # type: ignore[arg-type]


def crashloop(h: Harness) -> ko.Scenario:
    """The fake's crash-looping Deployment, loaded into the harness's cluster."""
    return ko.crashlooping_deployment().load(h.api)


def pod_alert(pod: dict[str, Any]) -> Alert:
    """The crash-looping alert of this pod."""
    return alert({"namespace": pod["metadata"]["namespace"], "pod": pod["metadata"]["name"],
                  "container": "app"})
