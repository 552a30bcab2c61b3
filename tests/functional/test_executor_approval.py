"""Human approvals through the executor: a genuine approval acts once; a forged, tampered,
unlisted, stale or replayed one never writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.events import (
    ACTION_COMPLETED,
    APPROVAL_REQUESTED,
    ESCALATED,
    PLAN_APPROVED,
    PLAN_REJECTED,
    ApprovalRequested,
    PlanApproved,
    PlanRejected,
)
from orchestrator.provenance import Signer
from orchestrator.signing import decision_payload, request_payload, sign
from tests import keys
from tests.fakes import kube_objects as ko
from tests.functional.executor_support import (
    Harness,
    action,
    alert,
    proposal,
    ref,
)


def decision(req: ApprovalRequested, outcome: str = "approved", *,
             approver: str = "alice@example.com", decided_at: datetime | None = None,
             console: Signer | None = None, comment: str = "",
             **changes: Any) -> tuple[str, PlanApproved | PlanRejected]:
    """What the console sends: the request it kept, the human's decision, its signature."""
    decided_at = decided_at or datetime.now(UTC)
    signature = sign(console or keys.signer("console"), decision_payload(
        executor_signature=req.signature, decision=outcome, approver=approver,
        decided_at=decided_at))
    model = PlanApproved if outcome == "approved" else PlanRejected
    body = model(incident_key=req.incident_key, alert=req.alert, plan=req.plan,
                 dry_runs=req.dry_runs, resource_versions=req.resource_versions,
                 requested_at=req.requested_at, expires_at=req.expires_at, why=req.why,
                 executor_signature=req.signature,
                 approver=approver, decided_at=decided_at, console_signature=signature,
                 comment=comment)
    if changes:
        body = model.model_validate({**body.model_dump(), **changes})
    return (PLAN_APPROVED if outcome == "approved" else PLAN_REJECTED), body


def resigned(req: ApprovalRequested, **changes: Any) -> ApprovalRequested:
    """The request as the executor would have signed it with these changes."""
    changed = req.model_copy(update=changes)
    return changed.model_copy(update={"signature": sign(keys.signer("executor"),
                                                        request_payload(changed))})


def ask(h: Harness, replicas: int = 2) -> ApprovalRequested:
    sc = ko.crashlooping_deployment().load(h.api)
    pod = sc["pod"]["metadata"]["name"]
    p = proposal(alert({"namespace": "shop", "pod": pod}),
                 action("scale", ref("Deployment", "checkout", "shop"), replicas=replicas),
                 runbooks=("capacity_test",))
    r = h.propose(p)
    assert r.type == APPROVAL_REQUESTED, r.body
    assert isinstance(r.data, ApprovalRequested)
    return r.data


def replicas(h: Harness) -> int:
    return int(h.api.get("Deployment", "shop", "checkout")["spec"]["replicas"])


def test_a_genuine_approval_is_dry_run_again_and_applied_once(harness: Harness) -> None:
    req = ask(harness)
    harness.api.clear_requests()
    r = harness.send(*decision(req), event_id="approval-1")

    assert r.type == ACTION_COMPLETED, r.body
    assert r.data.approver == "alice@example.com"
    assert [x.outcome for x in r.data.results] == ["applied"]
    assert r.headers["ce-partitionkey"] == "shop/Deployment/checkout"
    patches = [q for q in harness.api.requests if q.method == "PATCH"]
    assert [q.dry_run for q in patches] == [True, False]
    assert patches[1].body["spec"] == {"replicas": 2}
    assert patches[1].body["metadata"]["resourceVersion"] == \
        req.resource_versions["shop/Deployment/checkout"]
    assert replicas(harness) == 2
    (ev,) = [e for e in harness.events("shop") if e["reason"] == "Remediated"]
    assert "approved by alice@example.com" in ev["message"]

    again = harness.send(*decision(req), event_id="approval-1")  # the broker redelivers
    assert [x.outcome for x in again.data.results] == ["already-applied"]
    assert again.headers["ce-id"] == r.headers["ce-id"]
    assert len([q for q in harness.writes() if q.method == "PATCH"]) == 1


def _refused(h: Harness, event: tuple[str, Any], reason: str, words: str) -> None:
    before = replicas(h)
    h.api.clear_requests()
    r = h.send(*event)
    assert r.type == ESCALATED, r.body
    assert r.data.reason == reason
    assert words in r.data.detail
    assert h.workload_writes() == [] and replicas(h) == before


def test_a_tampered_plan_is_not_acted_on(harness: Harness) -> None:
    req = ask(harness)
    plan = req.plan.model_dump()
    plan["actions"][0]["parameters"] = {"replicas": 3}
    _refused(harness, decision(req, plan=plan), "approval-invalid", "executor's signature")


def test_a_tampered_resource_version_record_is_not_acted_on(harness: Harness) -> None:
    req = ask(harness)
    _refused(harness, decision(req, resource_versions={"shop/Deployment/checkout": "999"}),
             "approval-invalid", "executor's signature")


def test_a_plan_signed_with_another_key_is_not_acted_on(harness: Harness) -> None:
    req = ask(harness)
    forged = sign(keys.rogue("executor"), request_payload(req))
    req = req.model_copy(update={"signature": forged})
    _refused(harness, decision(req), "approval-invalid", "executor's signature")


def test_a_tampered_approval_is_not_acted_on(harness: Harness) -> None:
    harness.set_policy('mode: enforce\napprovers: ["alice@example.com", "bob@example.com"]\n')
    req = ask(harness)
    type_, body = decision(req, approver="alice@example.com")
    for change in ({"approver": "bob@example.com"},
                   {"decided_at": body.decided_at + timedelta(seconds=1)}):
        _refused(harness, (type_, body.model_copy(update=change)), "approval-invalid",
                 "console's signature")


def test_an_approval_signed_with_another_console_key_is_not_acted_on(harness: Harness) -> None:
    req = ask(harness)
    _refused(harness, decision(req, console=keys.rogue("console")), "approval-invalid",
             "console's signature")


def test_an_approver_not_on_the_allowlist_is_not_acted_on(harness: Harness) -> None:
    req = ask(harness)
    _refused(harness, decision(req, approver="mallory@example.com"), "approval-invalid",
             "not on the policy's approver allowlist")


def test_an_approval_from_the_future_is_not_acted_on(harness: Harness) -> None:
    req = ask(harness)
    _refused(harness, decision(req, decided_at=datetime.now(UTC) + timedelta(hours=1)),
             "approval-invalid", "in the future")


def test_a_stale_approval_is_asked_again(harness: Harness) -> None:
    req = ask(harness)
    old = datetime.now(UTC) - timedelta(minutes=20)
    stale = resigned(req, requested_at=old, expires_at=old + timedelta(minutes=15))
    r = harness.send(*decision(stale, decided_at=old + timedelta(minutes=1)))

    assert r.type == APPROVAL_REQUESTED, r.body
    assert "asked again" in r.data.why and "expired" in r.data.why
    assert r.data.requested_at > old + timedelta(minutes=19)
    assert harness.workload_writes() == [] and replicas(harness) == 1


def test_a_target_changed_since_the_dry_run_is_asked_again(harness: Harness) -> None:
    req = ask(harness)
    harness.api.mutate("Deployment", "shop", "checkout",
                       lambda d: d["metadata"].setdefault("labels", {}).update(team="payments"))
    r = harness.send(*decision(req))

    assert r.type == APPROVAL_REQUESTED, r.body
    assert "changed since the approval was requested" in r.data.why
    new_rv = harness.api.get("Deployment", "shop", "checkout")["metadata"]["resourceVersion"]
    assert r.data.resource_versions == {"shop/Deployment/checkout": new_rv}
    assert harness.workload_writes() == [] and replicas(harness) == 1


def test_a_replayed_approval_after_the_fact_reports_already_applied(harness: Harness) -> None:
    req = ask(harness)
    assert harness.send(*decision(req)).type == ACTION_COMPLETED
    # The same approval replayed long after (stale by now) must not ask again nor act again.
    later = datetime.now(UTC) - timedelta(minutes=30)
    replay = resigned(req, requested_at=later, expires_at=later + timedelta(minutes=15))
    r = harness.send(*decision(replay, decided_at=later + timedelta(minutes=2)))
    assert r.type == ACTION_COMPLETED
    assert [x.outcome for x in r.data.results] == ["already-applied"]
    assert len([q for q in harness.writes() if q.method == "PATCH"]) == 1


def test_a_forged_rejection_is_still_only_an_escalation(harness: Harness) -> None:
    req = ask(harness)
    _refused(harness, decision(req, "rejected", console=keys.rogue("console")), "approval-invalid",
             "does not verify")


def test_no_approver_allowlisted_means_escalation_not_a_dangling_request(
        harness: Harness) -> None:
    harness.set_policy("mode: enforce\n")
    sc = ko.crashlooping_deployment().load(harness.api)
    p = proposal(alert({"namespace": "shop", "pod": sc["pod"]["metadata"]["name"]}),
                 action("scale", ref("Deployment", "checkout", "shop"), replicas=2),
                 runbooks=("capacity_test",))
    r = harness.propose(p)
    assert r.type == ESCALATED and r.data.reason == "policy"
    assert "allowlists no approver" in r.data.detail


def test_an_approved_plan_whose_runbook_conditions_no_longer_hold_is_refused(
        harness: Harness) -> None:
    """A human approved a rollback of a crash-looping Deployment; by the time the decision
    arrives the pod runs again. The executor re-reads, and the runbook no longer applies."""
    sc = ko.crashlooping_deployment().load(harness.api)
    pod = sc["pod"]["metadata"]["name"]
    r = harness.propose(proposal(alert({"namespace": "shop", "pod": pod, "container": "app"}),
                                 action("rollback", ref("Deployment", "checkout", "shop")),
                                 runbooks=("k8s_crashloop",)))
    assert r.type == APPROVAL_REQUESTED, r.body
    assert isinstance(r.data, ApprovalRequested)
    harness.api.mutate("Pod", "shop", pod, ko.heal_pod)
    harness.api.clear_requests()
    refused = harness.send(*decision(r.data), event_id="approval-late")
    assert refused.type == ESCALATED, refused.body
    assert refused.data.reason == "policy"
    assert "container.waiting_reason eq 'CrashLoopBackOff': fails " \
        "(container.waiting_reason = unknown)" in refused.data.detail, refused.data.detail
    assert [q for q in harness.api.requests if q.method == "PATCH"] == []
