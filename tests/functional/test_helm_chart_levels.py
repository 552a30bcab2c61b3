"""The chart's RBAC per autonomy level: write verbs only where a level writes (dry-run, approve,
auto), read verbs where one observes, and none but get/list/watch anywhere in shadow mode (the
documented `values-observe.yaml` preset); the policy the executor reads agrees with it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from orchestrator.act.policy import parse_policy
from tests.functional.helm_support import (
    CHART,
    FULLNAME,
    NAMESPACE,
    Rendered,
    render_values,
    validate,
)
from tests.functional.test_helm_chart_rbac import WRITE_VERBS, _role, bindings_of, grants

EXECUTOR = f"{FULLNAME}-executor"


def _bindings(rendered: Rendered) -> list[tuple[str, str, set[tuple[str, str, str]]]]:
    """(kind of binding, namespace or '*', grants) of every executor binding."""
    return [(b["kind"], b["metadata"].get("namespace", "*"), g)
            for b, g in bindings_of(rendered, EXECUTOR)]


def _writes(rendered: Rendered) -> dict[str, set[tuple[str, str, str]]]:
    """Where the executor holds a write verb (besides its own Leases), and which."""
    out: dict[str, set[tuple[str, str, str]]] = {}
    for _, where, granted in _bindings(rendered):
        written = {g for g in granted if g[2] in WRITE_VERBS and g[1] != "leases"}
        if written:
            out.setdefault(where, set()).update(written)
    return out


def _reads_wide(rendered: Rendered) -> bool:
    return any(kind == "ClusterRoleBinding" and ("apps", "deployments", "get") in g
               for kind, _, g in _bindings(rendered))


def _policy(rendered: Rendered) -> Any:
    return parse_policy(rendered.one("ConfigMap", f"{FULLNAME}-policy")["data"]["policy.yaml"])


def test_the_observe_preset_grants_the_executor_no_write_verb_at_all() -> None:
    preset = yaml.safe_load((CHART / "values-observe.yaml").read_text())
    rendered = render_values(preset)
    for obj in rendered.objects:
        validate(obj)
    every = set().union(*(g for _, _, g in _bindings(rendered)))
    assert every and {v for _, _, v in every} <= {"get", "list", "watch"}
    for role in rendered.of_kind("ClusterRole") + rendered.of_kind("Role"):
        if role["metadata"]["name"].startswith(EXECUTOR) or "executor" in role["metadata"][
                "name"]:
            assert not {v for r in role["rules"] for v in r["verbs"]} & WRITE_VERBS, role
    assert _reads_wide(rendered), "observe watches every namespace not denied"
    own = [g for kind, where, g in _bindings(rendered) if where == NAMESPACE]
    assert own == [{("coordination.k8s.io", "leases", v) for v in ("get", "list")}]
    assert not _policy(rendered).writes_anywhere()
    assert "Shadow mode by default" in rendered.notes and "ENFORCE" not in rendered.notes
    assert _policy(rendered).namespaces.refusal("shop", level="observe") is None


@pytest.mark.parametrize(("policy", "writes", "reads"), [
    # observe by default, two namespaces promoted: writes there, reads everywhere.
    ({"mode": "observe", "namespaces": {"allow": [], "levels": {"shop": "auto",
                                                               "payments": "dry-run"}}},
     {"shop", "payments"}, "*"),
    # dry-run by default; shop demoted to observe: writes in default only, reads in shop.
    ({"mode": "dry-run", "namespaces": {"allow": ["default", "shop"],
                                        "levels": {"shop": "observe"}}},
     {"default"}, {"shop"}),
    # auto; an observe glob: its namespaces get no write verb, reads go cluster-wide.
    ({"mode": "enforce", "namespaces": {"allow": ["shop", "team-a"],
                                        "levels": {"team-*": "observe"}}},
     {"shop"}, "*"),
    # an exact name beats the glob, as in the executor.
    ({"mode": "auto", "namespaces": {"allow": ["team-a", "team-b"],
                                     "levels": {"team-*": "observe", "team-b": "approve"}}},
     {"team-b"}, "*"),
    # today's default values: dry-run in default, no observe binding.
    ({}, {"default"}, set()),
])
def test_write_verbs_follow_the_levels_and_observe_gets_reads(
        policy: dict[str, Any], writes: set[str], reads: str | set[str]) -> None:
    rendered = render_values({"executor": {"policy": policy}, "router": {"readClusterWide": True}})
    assert set(_writes(rendered)) == writes
    if reads == "*":
        assert _reads_wide(rendered)
    else:
        assert not _reads_wide(rendered)
        read_only = {where for kind, where, g in _bindings(rendered)
                     if kind == "RoleBinding" and where != NAMESPACE
                     and not {v for _, _, v in g} & WRITE_VERBS}
        assert read_only == reads
    executor = _policy(rendered)
    for namespace in writes:
        assert executor.namespace_level(namespace) in ("dry-run", "approve", "auto")
    assert executor.writes_anywhere()


def test_the_write_role_carries_the_actions_verbs_and_the_read_role_only_their_reads() -> None:
    rendered = render_values({"executor": {"policy": {
        "mode": "dry-run", "namespaces": {"allow": ["default"], "levels": {"shop": "observe"}}}}})
    (read_binding,) = [b for b, _ in bindings_of(rendered, EXECUTOR)
                       if b["metadata"].get("namespace") == "shop"]
    read = grants(_role(rendered, read_binding["roleRef"], "shop")["rules"])
    (write_binding,) = [b for b, _ in bindings_of(rendered, EXECUTOR)
                        if b["metadata"].get("namespace") == "default"]
    write = grants(_role(rendered, write_binding["roleRef"], "default")["rules"])
    assert read == {g for g in write if g[2] in ("get", "list", "watch")}
    assert ("apps", "deployments", "patch") in write and ("", "pods/eviction", "create") in write
