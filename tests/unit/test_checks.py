"""The executor's refusal reasons that need no cluster: plan binding, runbook grounding, policy,
scale bounds, GitOps marks, the budget decision, the alerted objects and approval verdicts.
(The ones that read the cluster run against the fake API in tests/functional/test_executor*.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.act.approval import check_decision, check_proposal, signed_request
from orchestrator.act.checks import (
    gitops_manager,
    plan_refusals,
    runbook_refusal,
    scale_refusals,
    static_refusals,
)
from orchestrator.act.lease_budget import Entry, decide, lease_name
from orchestrator.act.policy import BudgetPolicy, Policy, parse_policy
from orchestrator.act.targets import alerted_refs
from orchestrator.context import ObjectRef
from orchestrator.decide.facts import _gitops
from orchestrator.events import Alert, ApprovalRequested, PlanApproved, PlanProposed
from orchestrator.ids import incident_key
from orchestrator.knowledge.runbook import Predicate, Runbook, RunbookAction
from orchestrator.orient.fields import Scrubber
from orchestrator.orient.workloads import workload_info
from orchestrator.plan import Action, Citation, Plan
from orchestrator.provenance import Keyring
from orchestrator.signing import decision_payload, sign
from tests import keys

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _book(runbook_id: str, *types: str) -> Runbook:
    return Runbook(id=runbook_id, title=runbook_id, body="", path=f"{runbook_id}.md",
                   content_hash="0", actions=[RunbookAction(
                       type=t, risk="low", target="owner", why="test",  # type: ignore[arg-type]
                       when=[Predicate(fact="cluster.available", op="eq", value=True)])
                       for t in types])


BOOKS = {"k8s_crashloop": _book("k8s_crashloop", "delete_pod", "rollout_restart", "rollback"),
         "capacity": _book("capacity", "scale")}


def alert(**labels: str) -> Alert:
    return Alert(status="firing", labels={"alertname": "KubePodCrashLooping", **labels},
                 starts_at=T0, fingerprint="abcdef0123456789")


def plan(a: Alert, *actions: Action, runbooks: tuple[str, ...] = ("k8s_crashloop",)) -> Plan:
    return Plan(plan_id="p1", incident_key=incident_key(a.fingerprint, a.starts_at, a.cluster),
                fingerprint=a.fingerprint, hypothesis="h", confidence=0.7,
                citations=[Citation(runbook=r) for r in runbooks], actions=list(actions),
                model="offline", created_at=T0)


def act(type_: str, kind: str, name: str, namespace: str | None = "shop",
        **params: int | str) -> Action:
    return Action(type=type_, target=ObjectRef(kind=kind, name=name, namespace=namespace),  # type: ignore[arg-type]
                  parameters=params)


RESTART = act("rollout_restart", "Deployment", "checkout")


def test_a_well_formed_plan_has_no_plan_level_refusal() -> None:
    a = alert(namespace="shop", pod="checkout-1", cluster="prod")
    p = plan(a, RESTART)
    assert plan_refusals(incident_key=p.incident_key, alert=a, plan=p, cluster_name="prod") == []
    unlabelled = alert(namespace="shop")
    p = plan(unlabelled, RESTART)
    assert plan_refusals(incident_key=p.incident_key, alert=unlabelled, plan=p,
                         cluster_name=None) == []


@pytest.mark.parametrize(("cluster_label", "cluster_name", "why"), [
    ("prod-us", "prod-eu", "the alert is about cluster 'prod-us', this is 'prod-eu'"),
    ("prod-us", None, "EXECUTOR_CLUSTER_NAME"),
])
def test_the_cluster_label_must_be_this_cluster(cluster_label: str, cluster_name: str | None,
                                                why: str) -> None:
    a = alert(namespace="shop", cluster=cluster_label)
    p = plan(a, RESTART)
    assert why in " ".join(plan_refusals(incident_key=p.incident_key, alert=a, plan=p,
                                         cluster_name=cluster_name))


def test_an_alert_without_a_cluster_label_is_refused_when_the_executor_has_a_name() -> None:
    a = alert(namespace="shop")
    p = plan(a, RESTART)

    def refusals(**kw: object) -> str:
        return " ".join(plan_refusals(incident_key=p.incident_key, alert=a, plan=p, **kw))  # type: ignore[arg-type]

    assert "has no `cluster` label" in refusals(cluster_name="prod")
    assert Policy().require_cluster_label  # on by default
    assert refusals(cluster_name="prod", require_cluster_label=False) == ""
    assert refusals(cluster_name=None) == ""  # no name: nothing to compare with
    assert not parse_policy("require_cluster_label: false").require_cluster_label


def test_a_plan_must_belong_to_its_incident_and_its_alert() -> None:
    a = alert(namespace="shop")
    p = plan(a, RESTART)
    out = " | ".join(plan_refusals(incident_key="someone-else", alert=a, plan=p,
                                   cluster_name=None))
    assert "belongs to incident" in out and "is not the alert's" in out
    other = p.model_copy(update={"fingerprint": "ffff", "actions": []})
    out = " | ".join(plan_refusals(incident_key=p.incident_key, alert=a, plan=other,
                                   cluster_name=None))
    assert "fingerprint does not match" in out and "no actions" in out
    resolved = a.model_copy(update={"status": "resolved"})
    assert "resolved" in " ".join(plan_refusals(incident_key=p.incident_key, alert=resolved,
                                                plan=p, cluster_name=None))


def test_the_action_must_be_allowed_by_a_cited_runbook() -> None:
    a = alert(namespace="shop")
    assert runbook_refusal(RESTART, plan(a, RESTART), BOOKS) is None
    scale = act("scale", "Deployment", "checkout", replicas=3)
    assert "not among the actions" in (runbook_refusal(scale, plan(a, scale), BOOKS) or "")
    both = plan(a, scale, runbooks=("k8s_crashloop", "capacity"))
    assert runbook_refusal(scale, both, BOOKS) is None
    assert "cites no runbook" in (runbook_refusal(scale, plan(a, scale, runbooks=()), BOOKS) or "")
    assert "unknown runbook" in (runbook_refusal(RESTART, plan(a, RESTART, runbooks=(
        "k8s_crashloop", "invented")), BOOKS) or "")


@pytest.mark.parametrize(("action", "why"), [
    (act("rollout_restart", "Deployment", "coredns", "kube-system"), "kube-system' is denied"),
    (act("delete_pod", "Deployment", "checkout"), "delete_pod cannot act on a Deployment"),
    (act("rollback", "StatefulSet", "db"), "rollback cannot act on a StatefulSet"),
    (act("cordon_node", "Node", "n1", "shop"), "a Node has no namespace"),
    (act("rollout_restart", "Deployment", "checkout", None), "has no namespace"),
])
def test_static_refusals(action: Action, why: str) -> None:
    assert why in " ".join(static_refusals(action, policy=Policy()))


def test_static_checks_pass_a_legitimate_action_and_apply_the_policy() -> None:
    assert static_refusals(RESTART, policy=Policy()) == []
    assert static_refusals(act("cordon_node", "Node", "n1", None), policy=Policy()) == []
    p = parse_policy("actions: {rollout_restart: {allowed: false}}\n"
                     "namespaces: {allow: [payments]}\n")
    out = " | ".join(static_refusals(RESTART, policy=p))
    assert "not allowed by policy" in out and "allow list" in out


@pytest.mark.parametrize(("replicas", "current", "why"), [
    (5, 2, "step of 3"), (25, 24, "outside the policy's range"), (0, 1, "outside"),
    (3, 3, "already has 3"), ("three", 2, "integer"),
])
def test_scale_is_refused_out_of_bounds_never_clamped(replicas: int | str, current: int,
                                                      why: str) -> None:
    action = act("scale", "Deployment", "checkout", replicas=replicas)
    deploy = {"spec": {"replicas": current}}
    assert why in " ".join(scale_refusals(action, deploy, Policy()))


def test_scale_within_bounds_passes() -> None:
    for wanted, current in ((4, 2), (1, 3), ("6", 5)):
        action = act("scale", "Deployment", "checkout", replicas=wanted)
        assert scale_refusals(action, {"spec": {"replicas": current}}, Policy()) == []


@pytest.mark.parametrize(("meta", "tool"), [
    ({"annotations": {"argocd.argoproj.io/tracking-id": "app:apps/Deployment:shop/x"}},
     "Argo CD"),
    ({"labels": {"argocd.argoproj.io/instance": "shop"}}, "Argo CD"),
    ({"labels": {"kustomize.toolkit.fluxcd.io/name": "apps"}}, "Flux"),
    ({"labels": {"helm.toolkit.fluxcd.io/name": "shop"}}, "Flux"),
    ({"labels": {"app.kubernetes.io/instance": "shop",
                 "app.kubernetes.io/managed-by": "Helm"}}, None),
    ({}, None),
])
def test_gitops_marks(meta: dict, tool: str | None) -> None:
    assert gitops_manager({"metadata": meta}) == tool


@pytest.mark.parametrize(("managers", "tool"), [
    (["argocd-controller"], "Argo CD"), (["argocd-application-controller"], "Argo CD"),
    (["kustomize-controller"], "Flux"), (["helm-controller"], "Flux"),
    (["helm", "kubectl-client-side-apply"], None),
])
def test_gitops_field_managers_give_the_check_and_the_fact_one_answer(
        managers: list[str], tool: str | None) -> None:
    meta = {"name": "x", "namespace": "shop", "labels": {"app.kubernetes.io/instance": "shop"},
            "managedFields": [{"manager": m, "operation": "Apply"} for m in managers]}
    deployment = {"kind": "Deployment", "metadata": meta, "spec": {}, "status": {}}
    assert gitops_manager(deployment) == tool
    info = workload_info(deployment, Scrubber())
    assert _gitops(info) is (tool is not None)


def test_alerted_objects_follow_kube_state_metrics_labels() -> None:
    a = alert(namespace="batch", job_name="nightly-1", job="kube-state-metrics", node="n1")
    assert [r.key for r in alerted_refs(a)] == ["batch/Job/nightly-1", "_cluster/Node/n1"]
    assert [r.key for r in alerted_refs(alert(pod="p"))] == []  # no namespace: nothing named


def _entry(plan: str, age: float, action: str = "rollout_restart", state: str = "applied",
           index: int = 0) -> Entry:
    return Entry(plan=plan, incident="i", action=action, index=index,
                 at=T0 - timedelta(seconds=age), state=state)  # type: ignore[arg-type]


def test_budget_decisions() -> None:
    policy = BudgetPolicy(max_actions=2, window_seconds=3600, settle_seconds=300)

    def d(*entries: Entry) -> str:
        return decide(list(entries), plan_id="p", index=0, now=T0, policy=policy).status

    assert d() == "free"
    assert d(_entry("p", 10, state="taken")) == "mine"
    assert d(_entry("other", 10)) == "settling"
    assert d(_entry("other", 10, state="failed")) == "free"  # a failure holds nobody off
    assert d(_entry("a", 1000), _entry("b", 2000)) == "spent"
    assert d(_entry("a", 1000, state="failed"), _entry("b", 2000, state="failed")) == "spent"
    assert d(_entry("a", 4000), _entry("b", 5000)) == "free"  # out of the window
    assert d(_entry("p", 10, index=1)) == "free"  # the same plan's other action


def test_lease_names_are_valid_and_distinct() -> None:
    a = lease_name(ObjectRef(kind="Deployment", name="checkout", namespace="shop"))
    b = lease_name(ObjectRef(kind="Deployment", name="checkout", namespace="shop-2"))
    long = lease_name(ObjectRef(kind="StatefulSet", name="x" * 250, namespace="ns"))
    for name in (a, b, long):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) and len(name) <= 63
    assert a != b


def _approval(*, approver: str = "alice@example.com", decided: datetime,
              requested: datetime, executor: str = "executor", console: str = "console",
              tamper: dict | None = None) -> PlanApproved:
    """A decision as the console sends it; `executor`/`console` = "rogue" signs with a key
    that is in nobody's keyring."""
    a = alert(namespace="shop")
    p = plan(a, RESTART)
    ex = keys.rogue("executor") if executor == "rogue" else keys.signer("executor")
    co = keys.rogue("console") if console == "rogue" else keys.signer("console")
    req = signed_request(ex, ApprovalRequested(
        incident_key=p.incident_key, alert=a, plan=p, dry_runs=[],
        resource_versions={"shop/Deployment/checkout": "7"}, requested_at=requested,
        expires_at=requested + timedelta(minutes=15), signature=""))
    signature = sign(co, decision_payload(executor_signature=req.signature, decision="approved",
                                          approver=approver, decided_at=decided))
    body = PlanApproved(incident_key=p.incident_key, alert=a, plan=p, dry_runs=[],
                        resource_versions={"shop/Deployment/checkout": "7"},
                        requested_at=requested, expires_at=req.expires_at,
                        executor_signature=req.signature, approver=approver,
                        decided_at=decided, console_signature=signature)
    return body.model_copy(update=tamper or {})


@pytest.mark.parametrize(("kwargs", "status", "why"), [
    ({}, "ok", ""),
    ({"tamper": {"resource_versions": {"shop/Deployment/checkout": "8"}}}, "invalid",
     "executor's signature"),
    ({"tamper": {"why": "a harmless restart"}}, "invalid", "executor's signature"),
    ({"executor": "rogue"}, "invalid", "executor's signature"),
    ({"console": "rogue"}, "invalid", "console's signature"),
    ({"approver": "mallory"}, "invalid", "allowlist"),
    ({"decided": T0 + timedelta(minutes=30)}, "invalid", "future"),
    ({"requested": T0 - timedelta(minutes=20), "decided": T0 - timedelta(minutes=19)}, "stale",
     "expired"),
])
def test_approval_verdicts(kwargs: dict, status: str, why: str) -> None:
    args = {"decided": T0 - timedelta(minutes=1), "requested": T0 - timedelta(minutes=3),
            **kwargs}
    body = _approval(**args)
    v = check_decision(body, outcome="approved", keyring=keys.keyring(),
                       policy=parse_policy("approvers: [alice@example.com]\n"),
                       ttl=timedelta(minutes=15), skew=timedelta(seconds=60), now=T0)
    assert v.status == status and why in v.why


def test_without_public_keys_nothing_verifies() -> None:
    body = _approval(decided=T0, requested=T0)
    v = check_decision(body, outcome="approved", keyring=Keyring({}),
                       policy=Policy(approvers=["alice@example.com"]),
                       ttl=timedelta(minutes=15), skew=timedelta(0), now=T0)
    assert v.status == "invalid" and "executor's signature" in v.why


@pytest.mark.parametrize(("age", "refused"), [
    (timedelta(minutes=14), None), (timedelta(minutes=16), "expired"),
    (timedelta(days=90), "expired"), (-timedelta(minutes=5), "future")])
def test_a_proposal_expires_after_its_ttl(age: timedelta, refused: str | None) -> None:
    a = alert(namespace="shop")
    proposed = PlanProposed(incident_key=plan(a, RESTART).incident_key, alert=a,
                            plan=plan(a, RESTART))
    why = check_proposal(proposed, signed_at=T0 - age, ttl=timedelta(minutes=15),
                         skew=timedelta(minutes=1), now=T0)
    assert (why is None) if refused is None else (why is not None and refused in why)
