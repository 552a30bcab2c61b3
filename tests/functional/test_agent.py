"""The agent through its real functions-framework app, without an API key (the embedded default):
real Qdrant local store indexed from the packaged runbooks, offline planner, audit-log reuse."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from orchestrator.adapters.object_store import LocalDirStore, MinioStore
from orchestrator.envelope import decode
from orchestrator.events import ALERT_RECEIVED, ESCALATED, Escalated
from orchestrator.provenance import Unauthenticated
from tests import incidents as inc
from tests import keys
from tests.fakes.s3 import s3_server
from tests.functional.agent_support import (
    ROOT,
    AgentClient,
    agent_app,
    record_plan,
)


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return tmp_path / "audit"


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch, qdrant: Path, audit: Path) -> Iterator[AgentClient]:
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit) as client:
        yield client


def test_crashloop_becomes_a_proposed_plan_keyed_by_the_deployment(agent: AgentClient) -> None:
    ev = inc.crashloop()
    r = agent.send(ev)
    assert r.status == 200
    assert r.headers["ce-source"] == "/orchestrator/agent"
    assert r.headers["ce-incidentkey"] == ev.incident_key == r.headers["ce-subject"]
    assert r.headers["ce-partitionkey"] == "payments/Deployment/checkout"
    proposed = r.proposed()
    assert [(a.type, a.target.name) for a in proposed.plan.actions] == \
        [("delete_pod", inc.POD.name)]
    assert proposed.plan.offline and proposed.plan.tokens_in == 0
    assert proposed.target == inc.POD and proposed.owners == [inc.RS, inc.DEPLOY]
    assert proposed.plan.retrieval[0].runbook == "k8s_crashloop"
    assert proposed.plan.retrieval[0].retriever == "exact"


def test_proposals_carry_the_agents_signature_over_the_whole_event(
        agent: AgentClient) -> None:
    r = agent.send(inc.crashloop())
    event = decode(r.headers, r.raw)
    assert keys.keyring().check(event, now=datetime.now(UTC)) == "agent"
    moved = decode(r.headers, r.raw.replace(b'"owners":[', b'"owners":[ '))
    with pytest.raises(Unauthenticated, match="does not verify"):
        keys.keyring().check(moved, now=datetime.now(UTC))


def test_without_a_signing_key_nothing_goes_out_unsigned(
        monkeypatch: pytest.MonkeyPatch, qdrant: Path, tmp_path: Path) -> None:
    with agent_app(monkeypatch, qdrant=qdrant, audit=tmp_path / "audit") as a:
        monkeypatch.delenv("AGENT_SIGNING_KEY_FILE")  # read on the first event
        r = a.send(inc.crashloop())
    assert r.status == 503 and "AGENT_SIGNING_KEY" in r.body["error"]
    assert "ce-type" not in r.headers


def test_redelivery_gives_the_same_event_and_plan_ids(agent: AgentClient) -> None:
    a, b = agent.send(inc.crashloop()), agent.send(inc.crashloop())
    assert a.headers["ce-id"] == b.headers["ce-id"]
    assert a.proposed().plan.plan_id == b.proposed().plan.plan_id
    c = agent.send(inc.crashloop(), event_id="router-event-2")
    assert c.headers["ce-id"] != a.headers["ce-id"]


def test_alert_no_runbook_covers_is_escalated(agent: AgentClient) -> None:
    ev = inc.enriched(inc.make_alert({"alertname": "Watchdog", "severity": "none"},
                                     annotations={"description": "This is an alert meant to "
                                                  "ensure that the entire alerting pipeline is "
                                                  "functional."}),
                      inc.crashloop().context)
    r = agent.send(ev)
    assert r.type == ESCALATED
    esc = Escalated.model_validate(r.body)
    assert (esc.stage, esc.reason) == ("agent", "no-runbook")
    assert r.headers["ce-partitionkey"] == ev.alert.fingerprint


def test_without_cluster_context_nothing_is_proposed(agent: AgentClient) -> None:
    r = agent.send(inc.without_cluster())
    esc = Escalated.model_validate(r.body)
    assert esc.reason == "no-applicable-action"
    assert "runbook k8s_crashloop" in esc.detail


def test_weak_match_is_escalated_for_low_confidence(monkeypatch: pytest.MonkeyPatch,
                                                   qdrant: Path, audit: Path) -> None:
    # A non-canonical alertname: only the text finds the runbook, so the offline planner's
    # confidence follows the BM25 score (0.4 + 0.3 x score < 0.6 for any score below 2/3).
    alert = inc.make_alert(
        {"alertname": "CheckoutContainerRestarting", "namespace": "payments",
         "pod": inc.POD.name, "container": "checkout"},
        annotations={"summary": "checkout keeps restarting",
                     "description": "Container checkout is restarting in back-off."},
        fingerprint="0f0f0f0f0f0f0f0f")
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit,
                   env={"AGENT_CONFIDENCE_THRESHOLD": "0.6"}) as agent:
        r = agent.send(inc.enriched(alert, inc.crashloop().context))
    esc = Escalated.model_validate(r.body)
    assert esc.reason == "low-confidence", esc.detail
    assert esc.plan_id and "below the threshold 0.60" in esc.detail
    assert "matches runbook k8s_crashloop (Pod is crash-looping" in esc.detail


def test_wrong_event_type_and_bad_data_are_4xx(agent: AgentClient) -> None:
    ce = CloudEvent({"type": ALERT_RECEIVED, "source": "/x", "id": "1"}, {"a": 1})
    headers, body = to_binary(ce)
    assert agent.client.post("/", headers=headers, data=body).status_code == 400
    ce = CloudEvent({"type": "incident.context.enriched", "source": "/x", "id": "2"},
                    {"incident_key": "k"})
    headers, body = to_binary(ce)
    r = agent.client.post("/", headers=keys.seal(headers, body), data=body)
    assert r.status_code == 400 and b"invalid data" in r.data


def test_a_recent_plan_for_the_same_fingerprint_is_reused(agent: AgentClient,
                                                          audit: Path) -> None:
    first = agent.send(inc.crashloop()).proposed()
    record_plan(LocalDirStore(audit), first, event_id="e1")
    # The same alert fires again (a new startsAt: a new incident) within the hour.
    again = inc.crashloop(alert=inc.recorded_alert().model_copy(
        update={"starts_at": inc.NOW - timedelta(minutes=1)}))
    assert again.incident_key != first.incident_key
    plan = agent.send(again, event_id="router-event-9").proposed().plan
    assert plan.reused_from == first.plan.plan_id
    assert plan.plan_id != first.plan.plan_id
    assert plan.actions == first.plan.actions
    assert plan.hypothesis.startswith(f"Reused plan {first.plan.plan_id}")
    # Fired a third time: the newest record is the reused plan; its note is not repeated.
    second = agent.send(again, event_id="router-event-9").proposed()
    record_plan(LocalDirStore(audit), second, event_id="e2")
    third = inc.crashloop(alert=inc.recorded_alert().model_copy(update={"starts_at": inc.NOW}))
    plan3 = agent.send(third, event_id="router-event-10").proposed().plan
    assert plan3.reused_from == second.plan.plan_id
    assert plan3.hypothesis.count("Reused plan") == 1


def test_a_reused_plan_must_still_apply(agent: AgentClient, audit: Path) -> None:
    first = agent.send(inc.crashloop(revision_age_min=20)).proposed()
    assert first.plan.actions[0].type == "rollback"
    record_plan(LocalDirStore(audit), first, event_id="e1")
    # An hour of the new revision later the rollback no longer applies: plan afresh.
    later = inc.crashloop(revision_age_min=50, alert=inc.recorded_alert().model_copy(
        update={"starts_at": inc.NOW - timedelta(minutes=1)}))
    plan = agent.send(later, event_id="router-event-9").proposed().plan
    assert plan.reused_from is None
    assert plan.actions[0].type == "delete_pod"


def test_reuse_reads_the_audit_log_from_minio(monkeypatch: pytest.MonkeyPatch,
                                             qdrant: Path) -> None:
    with s3_server() as s3:
        env = {"AGENT_AUDIT_ENDPOINT": s3.endpoint, "AGENT_AUDIT_ACCESS_KEY": s3.access_key,
               "AGENT_AUDIT_SECRET_KEY": s3.secret_key, "AGENT_AUDIT_BUCKET": "audit"}
        with agent_app(monkeypatch, qdrant=qdrant, audit=None, env=env) as agent:
            first = agent.send(inc.crashloop()).proposed()
            store = MinioStore.connect(s3.endpoint, s3.access_key, s3.secret_key, "audit")
            record_plan(store, first, event_id="e1")
            again = inc.crashloop(alert=inc.recorded_alert().model_copy(
                update={"starts_at": inc.NOW - timedelta(minutes=1)}))
            plan = agent.send(again, event_id="router-event-9").proposed().plan
    assert plan.reused_from == first.plan.plan_id


@pytest.mark.slow  # the minio client retries a refused connection for ~6 s before giving up
def test_unreachable_audit_log_does_not_stop_planning(monkeypatch: pytest.MonkeyPatch,
                                                     qdrant: Path) -> None:
    env = {"AGENT_AUDIT_ENDPOINT": "127.0.0.1:9", "AGENT_AUDIT_ACCESS_KEY": "a",
           "AGENT_AUDIT_SECRET_KEY": "b"}
    with agent_app(monkeypatch, qdrant=qdrant, audit=None, env=env) as agent:
        assert agent.send(inc.crashloop()).proposed().plan.actions


def test_plans_outside_the_reopen_window_are_not_reused(monkeypatch: pytest.MonkeyPatch,
                                                        qdrant: Path, audit: Path) -> None:
    with agent_app(monkeypatch, qdrant=qdrant, audit=audit,
                   env={"AGENT_REOPEN_WINDOW_SECONDS": "0"}) as agent:
        first = agent.send(inc.crashloop()).proposed()
        record_plan(LocalDirStore(audit), first, event_id="e1")
        again = inc.crashloop(alert=inc.recorded_alert().model_copy(
            update={"starts_at": inc.NOW - timedelta(minutes=1)}))
        assert agent.send(again, event_id="router-event-9").proposed().plan.reused_from is None


def test_cold_agent_without_a_key_imports_no_heavy_sdk(qdrant: Path,
                                                             tmp_path: Path) -> None:
    # In a fresh interpreter: other tests in this process may have imported it already.
    script = f"""
import sys, functions_framework
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from tests import incidents as inc
ev = inc.crashloop()
app = functions_framework.create_app(target="handle", source={str(ROOT / 'functions/agent/main.py')!r},
                                     signature_type="http")
h, b = to_binary(CloudEvent({{"type": "incident.context.enriched", "source": "/t", "id": "1"}},
                            ev.model_dump(mode="json")))
import os
from tests import keys
os.environ.update(keys.env("agent"))  # read on the first event
r = app.test_client().post("/", headers=keys.seal(h, b), data=b)
assert r.status_code == 200, r.data
assert r.headers["ce-type"] == "incident.plan.proposed", r.headers
assert "google.genai" not in sys.modules, "google-genai imported without a key"
# An alert a runbook names outright is planned from the raw runbooks: no index needed.
assert "qdrant_client" not in sys.modules, "qdrant-client imported for an exact match"
print("ok")
"""
    env = {"PATH": "/usr/bin:/bin", "KB_QDRANT_PATH": str(qdrant),
           "AGENT_AUDIT_DIR": str(tmp_path / "audit"), "PYTHONPATH": str(ROOT),
           "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_cluster_overrules_the_alert_name(agent: AgentClient) -> None:
    """KubePodNotReady, but the pod is crash-looping right after a rollout: the agent follows
    the crash-loop runbook (its rollback), not the not-ready runbook the name matches."""
    ev = inc.crashloop(alert=inc.recorded_alert(alertname="KubePodNotReady"),
                       revision_age_min=10)
    proposed = agent.send(ev).proposed()
    assert proposed.plan.citations[0].runbook == "k8s_crashloop"
    assert [(r.runbook, r.retriever) for r in proposed.plan.retrieval[:2]] == \
        [("k8s_crashloop", "cluster"), ("k8s_pod_not_ready", "exact")]
    assert [a.type for a in proposed.plan.actions] == ["rollback"]
