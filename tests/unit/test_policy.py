"""The executor's policy file: its safe default, strict parsing, and the RBAC it implies."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.act.actions import ACTION_SPECS, rbac_rules
from orchestrator.act.policy import Policy, PolicyError, load_policy, parse_policy
from orchestrator.adapters.kube_writes import RESOURCES
from orchestrator.plan import ACTION_TYPES


def test_the_default_is_dry_run_and_only_low_risk_reversible_actions_run_alone() -> None:
    p = load_policy(None)
    assert p == Policy()
    assert p.mode == "dry-run" and not p.kill_switch
    auto = {t for t in ACTION_TYPES if p.needs_human(t) is None}
    assert auto == {"delete_pod", "rollout_restart"}
    assert all(ACTION_SPECS[t].reversible and ACTION_SPECS[t].default_risk == "low" for t in auto)
    assert all(p.action(t).allowed for t in ACTION_TYPES)
    for ns in ("kube-system", "kube-public", "kube-node-lease"):
        assert p.namespaces.refusal(ns) is not None
    assert p.namespaces.refusal("shop") is None
    assert p.approvers == []


def test_a_partial_file_keeps_the_defaults_it_does_not_mention() -> None:
    p = parse_policy("""
mode: enforce
actions:
  scale: {auto_approve: true}
  delete_pod: {allowed: false}
""")
    assert p.mode == "enforce"
    assert p.action("scale").risk == "medium" and p.action("scale").auto_approve
    assert "above the auto-approval limit low" in (p.needs_human("scale") or "")
    assert not p.action("delete_pod").allowed
    assert p.needs_human("rollout_restart") is None
    assert p.action("rollback") == Policy().action("rollback")


def test_raising_the_auto_approval_limit_lets_medium_actions_run_alone() -> None:
    p = parse_policy("auto_approve_max_risk: medium\nactions: {scale: {auto_approve: true}}\n")
    assert p.needs_human("scale") is None
    assert p.needs_human("rollback") == "rollback is not auto-approved by policy (risk medium)"
    p = parse_policy("actions: {delete_pod: {risk: high}}\n")
    assert "rated high" in (p.needs_human("delete_pod") or "")


@pytest.mark.parametrize("text", ["mode: off\n", "mode: 'off'\n"])
def test_mode_off_parses_bare_or_quoted(text: str) -> None:
    assert parse_policy(text).mode == "off"


@pytest.mark.parametrize(("text", "error"), [
    ("mode: yolo\n", "mode"),
    ("actions: {delete_pod: {auto_aprove: true}}\n", "auto_aprove"),
    ("actions: {delete_namespace: {allowed: true}}\n", "delete_namespace"),
    ("approver: [alice]\n", "approver"),
    ("scale: {min_replicas: 5, max_replicas: 2}\n", "min_replicas"),
    ("budget: {max_actions: 0}\n", "max_actions"),
    ("mode: [enforce\n", "not valid YAML"),
    ("- enforce\n", "must be a mapping"),
])
def test_a_broken_policy_is_an_error_never_a_silent_default(text: str, error: str) -> None:
    with pytest.raises(PolicyError, match=error):
        parse_policy(text)


def test_an_unreadable_policy_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "missing.yaml")
    f = tmp_path / "policy.yaml"
    f.write_text("")
    assert load_policy(f) == Policy()


def test_namespace_lists_take_globs_and_deny_wins() -> None:
    p = parse_policy("namespaces: {allow: ['team-*', shop], deny: ['team-secret*']}\n")
    assert p.namespaces.refusal("team-a") is None
    assert p.namespaces.refusal("shop") is None
    assert "not in the policy's allow list" in (p.namespaces.refusal("payments") or "")
    assert "denied by policy" in (p.namespaces.refusal("team-secrets") or "")
    # replacing the deny list is explicit: kube-system is no longer denied, but not allowed
    assert "allow list" in (p.namespaces.refusal("kube-system") or "")


def test_approvers_match_exactly_ignoring_case_and_spaces() -> None:
    p = parse_policy("approvers: ['Alice@Example.com', 'slack:U024BE7LH']\n")
    assert p.approver_allowed("alice@example.com")
    assert p.approver_allowed(" slack:U024BE7LH ")
    assert not p.approver_allowed("alice@example.com.evil")
    assert not p.approver_allowed("")
    assert not Policy().approver_allowed("alice@example.com")


def test_rbac_rules_cover_every_action_and_nothing_destructive_beyond_them() -> None:
    rules = rbac_rules()
    assert rules == rbac_rules()  # stable
    by_resource = {(r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in rules}
    assert by_resource[("", "pods/eviction")] == ["create"]
    assert "delete" not in by_resource[("", "pods")]  # pods go through evictions
    assert by_resource[("batch", "jobs")] == ["delete", "get", "list"]  # list: a CronJob's runs
    assert by_resource[("coordination.k8s.io", "leases")] == ["create", "get", "list", "update"]
    assert by_resource[("", "events")] == ["create"]
    for group, resource in by_resource:
        assert "update" not in by_resource[(group, resource)] or resource == "leases"
    for name, spec in ACTION_SPECS.items():
        for rule in spec.rules:
            assert set(rule.verbs) <= set(by_resource[(rule.api_group, rule.resource)]), name
        for kind in spec.kinds:
            assert kind in RESOURCES, f"{name} acts on {kind}, which the adapter cannot reach"
    assert set(ACTION_SPECS) == set(ACTION_TYPES)
