"""Incidents for the console's tests, built from the real event models, and the console itself
as a functions-framework app (in-process, or served on a loopback port).

`Story` walks one crash-looping Deployment through the loop as the other functions would tell it:
alert → context → plan → approval request (signed with the executor's key exactly as the
executor signs it) → decision → action → resolution or escalation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
from werkzeug.serving import make_server

import orchestrator.console.service as service
from orchestrator.act.approval import signed_request
from orchestrator.context import (
    ClusterContext,
    ContainerInfo,
    KubeEvent,
    LogTail,
    ObjectRef,
    PodInfo,
)
from orchestrator.envelope import Event, Outgoing, decode, to_binary
from orchestrator.events import (
    ACTION_COMPLETED,
    ALERT_RECEIVED,
    APPROVAL_REQUESTED,
    CONTEXT_ENRICHED,
    ESCALATED,
    PLAN_PROPOSED,
    RESOLVED,
    ActionCompleted,
    Alert,
    AlertReceived,
    ApprovalRequested,
    ContextEnriched,
    Escalated,
    PlanProposed,
    Resolved,
)
from orchestrator.ids import event_id, incident_key
from orchestrator.plan import Action, ActionResult, Citation, Plan, RetrievedRunbook
from tests import keys
from tests.fakes.serving import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "console-api-token-for-tests"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APPROVER = "alice@example.com"
SLACK_USER = "U024BE7LH"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
"""The service token: reads, sweeps, never decides."""
ALICE_TOKEN = "alice-personal-token-for-tests"
MALLORY = "mallory@example.com"
MALLORY_TOKEN = "mallory-personal-token-for-tests"
"""A person the console knows who is not on the approver allowlist."""
ALICE = {"Authorization": f"Bearer {ALICE_TOKEN}"}
PEOPLE = {ALICE_TOKEN: APPROVER, MALLORY_TOKEN: MALLORY}
NS = "payments"
DEPLOY = ObjectRef(kind="Deployment", name="checkout", namespace=NS, uid="uid-deploy")
POD = ObjectRef(kind="Pod", name="checkout-7d9f8b6c5-x2k4q", namespace=NS, uid="uid-pod")


class Story:
    """One incident's events, in the order the loop would emit them."""

    def __init__(self, *, fingerprint: str = "9a3cf2d1b7e04c55", start: datetime | None = None,
                 annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None,
                 namespace: str = NS) -> None:
        self.start = start or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        self.alert = Alert(
            status="firing",
            labels={"alertname": "KubePodCrashLooping", "namespace": namespace,
                    "pod": POD.name, "severity": "critical", **(labels or {})},
            annotations=annotations if annotations is not None else {
                "summary": "checkout is crash-looping",
                "runbook_url": "https://runbooks.example.com/crashloop"},
            starts_at=self.start, fingerprint=fingerprint,
            generator_url="http://prometheus.example:9090/graph")
        self.key = incident_key(fingerprint, self.start)
        self.plan = Plan(
            plan_id=f"plan-{fingerprint[:8]}", incident_key=self.key, fingerprint=fingerprint,
            hypothesis="The new ReplicaSet crashes on start (exit 1); roll back.",
            confidence=0.82,
            citations=[Citation(runbook="k8s_crashloop", heading="Roll back a bad rollout",
                                chunk="When a new ReplicaSet appeared within 30 minutes, roll "
                                      "back to the previous revision.", score=0.91)],
            retrieval=[RetrievedRunbook(runbook="k8s_crashloop", score=0.91, heading="Roll back",
                                        retriever="exact"),
                       RetrievedRunbook(runbook="k8s_rollout_stuck", score=0.42,
                                        retriever="bm25")],
            actions=[Action(type="rollback", target=DEPLOY, reason="revision 7 crashes")],
            model="offline", offline=True, created_at=self.start + timedelta(seconds=3))

    def _out(self, type_: str, data: Any, step: str, pkey: str | None = None) -> Outgoing:
        stage = {ALERT_RECEIVED: "ingest", CONTEXT_ENRICHED: "router", PLAN_PROPOSED: "agent",
                 RESOLVED: "router"}.get(type_, "executor")
        return Outgoing(type=type_, id=event_id(self.key, stage, step), function=stage,
                        incident_key=self.key, data=data, partition_key=pkey)

    def alert_received(self, status: str = "firing") -> Outgoing:
        alert = self.alert if status == "firing" else self.alert.model_copy(
            update={"status": "resolved"})
        return self._out(ALERT_RECEIVED, AlertReceived(incident_key=self.key, alert=alert),
                         f"alert|{status}", self.alert.fingerprint)

    def context_enriched(self, log_lines: list[str] | None = None) -> Outgoing:
        ctx = ClusterContext(
            available=True, source="kubeconfig", target=POD, owners=[DEPLOY],
            pods=[PodInfo(ref=POD, phase="Running", node="worker-3", containers=[
                ContainerInfo(name="app", state="waiting", reason="CrashLoopBackOff",
                              restart_count=7, last_state="terminated", last_reason="Error",
                              last_exit_code=1)])],
            events=[KubeEvent(object=f"Pod/{POD.name}", type="Warning", reason="BackOff",
                              message="Back-off restarting failed container", count=12)],
            logs=[LogTail(pod=POD.name, container="app", previous=True,
                          lines=log_lines or ["panic: config key missing", "exit status 1"])],
            redactions=["env DATABASE_PASSWORD (secret)"])
        return self._out(CONTEXT_ENRICHED, ContextEnriched(incident_key=self.key,
                                                           alert=self.alert, context=ctx),
                         "context")

    def plan_proposed(self) -> Outgoing:
        return self._out(PLAN_PROPOSED, PlanProposed(incident_key=self.key, alert=self.alert,
                                                     plan=self.plan, target=DEPLOY),
                         "plan", DEPLOY.key)

    def approval_requested(self, *, requested_at: datetime | None = None,
                           ttl: timedelta = timedelta(minutes=15)) -> Outgoing:
        at = requested_at or datetime.now(UTC)
        versions = {DEPLOY.key: "4711"}
        dry = [ActionResult(action=self.plan.actions[0], outcome="dry-run",
                            dry_run="deployment.apps/checkout rolled back (server dry run)",
                            resource_version="4711")]
        data = signed_request(keys.signer("executor"), ApprovalRequested(
            incident_key=self.key, alert=self.alert, plan=self.plan, dry_runs=dry,
            resource_versions=versions, requested_at=at, expires_at=at + ttl, signature="",
            why="rollback is not auto-approved by policy (risk medium)"))
        return self._out(APPROVAL_REQUESTED, data, f"approval|{at.isoformat()}", DEPLOY.key)

    def action_completed(self, approver: str | None = APPROVER) -> Outgoing:
        res = ActionResult(action=self.plan.actions[0], outcome="applied",
                           dry_run="rolled back (server dry run)",
                           api_result="deployment.apps/checkout rolled back to revision 6")
        data = ActionCompleted(incident_key=self.key, alert=self.alert,
                               plan_id=self.plan.plan_id, mode="enforce", results=[res],
                               approver=approver)
        return self._out(ACTION_COMPLETED, data, "completed", DEPLOY.key)

    def resolved(self, how: str = "alert-resolved") -> Outgoing:
        return self._out(RESOLVED, Resolved(incident_key=self.key, how=how,  # type: ignore[arg-type]
                                            alert=self.alert), f"resolved|{how}")

    def escalated(self, reason: str = "low-confidence", stage: str = "agent",
                  detail: str = "confidence 0.31 below 0.6") -> Outgoing:
        data = Escalated(incident_key=self.key, stage=stage, reason=reason,  # type: ignore[arg-type]
                         detail=detail, alert=self.alert)
        return self._out(ESCALATED, data, f"escalated|{reason}")


def wire(out: Outgoing, at: datetime | None = None) -> tuple[dict[str, str], bytes]:
    """Binary-mode headers and body of an event as its producer signs it, its `time` set to
    `at` when given."""
    headers, body = to_binary(out)
    if at is not None:
        headers["ce-time"] = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return keys.seal(headers, body, out.function), body


def received(out: Outgoing, at: datetime | None = None) -> Event:
    """The event as the console reads it off the wire (`wire`, then decoded)."""
    return decode(*wire(out, at))


def console_env(monkeypatch: Any, audit: Path, broker: str, **extra: str) -> None:
    env = {"CONSOLE_AUDIT_DIR": str(audit), "CONSOLE_API_TOKEN": TOKEN,
           "K_SINK": broker, **keys.env("console"),
           # These tests replay an incident's past (events hours old): the freshness window
           # has its own tests (test_hop_authentication.py).
           "CONSOLE_EVENT_MAX_AGE_SECONDS": str(30 * 86400),
           "CONSOLE_APPROVERS": APPROVER,
           "CONSOLE_APPROVER_TOKENS": json.dumps(PEOPLE),
           "CONSOLE_SLACK_APPROVERS": f"{SLACK_USER}={APPROVER}",
           "CONSOLE_SLACK_SIGNING_SECRET": SLACK_SECRET, **extra}
    for name in list(__import__("os").environ):
        if name.startswith("CONSOLE_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    service.instance.reset()


def console_app() -> Any:
    return functions_framework.create_app(
        target="handle", source=str(ROOT / "functions/console/main.py"), signature_type="http")


def deliver(client: Any, out: Outgoing, at: datetime | None = None) -> Any:
    headers, body = wire(out, at)
    return client.post("/events", data=body, headers=headers)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app on a loopback port (for the CLI and the browser), stopped and joined after.

    One request at a time: a thread per request would leave each thread's keep-alive broker
    connection (HttpPublisher keeps one per thread) to the garbage collector."""
    server = make_server("127.0.0.1", 0, app, threaded=False)

    def close_broker_connection() -> None:
        # The broker connection lives in the serving thread (thread-local): close it there.
        built = service.instance.peek()
        if built is not None:
            built.close()

    with serve_in_thread(server, then=close_broker_connection) as url:
        yield url


def csrf_of(html: str) -> str:
    """The CSRF token of a console page's forms."""
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def awaiting(client: Any, story: Story | None = None, *, context: bool = False,
             **request: Any) -> Story:
    """A story (a new one by default) delivered up to its approval request, each delivery
    accepted: a plan waiting for a human. `context`: the gathered context is delivered too;
    `request`: passed to `Story.approval_requested`."""
    story = story or Story()
    steps = [story.alert_received(), *([story.context_enriched()] if context else []),
             story.plan_proposed(), story.approval_requested(**request)]
    for out in steps:
        r = deliver(client, out)
        assert r.status_code == 202, (out.type, r.status_code, r.data)
    return story
