"""The chart's RBAC: the executor gets exactly the verbs its allowed actions and its own checks
declare (orchestrator.act.actions), only in the namespaces its policy allows (cluster-wide only
when the values say so explicitly); only it can write; the router reads what it reads, with
verbs that exist, in the namespaces it serves; nobody reads Secrets; ingest, agent and console
have no rights at all."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.act.actions import ACTION_SPECS, EXECUTOR_RULES, Rule
from tests.functional.helm_support import (
    FULLNAME,
    FUNCTIONS,
    NAMESPACE,
    VALUE_SETS,
    Rendered,
    chart_values,
    render,
)

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}
Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def grants(rules: Any) -> set[Grant]:
    out: set[Grant] = set()
    for rule in rules:
        if isinstance(rule, Rule):
            out |= {(rule.api_group, rule.resource, v) for v in rule.verbs}
        else:
            out |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"]
                    for v in rule["verbs"]}
    return out


def _role(rendered: Rendered, ref: dict[str, Any], namespace: str) -> dict[str, Any]:
    kind = ref["kind"]
    found = [o for o in rendered.of_kind(kind) if o["metadata"]["name"] == ref["name"]
             and (kind == "ClusterRole" or o["metadata"]["namespace"] == namespace)]
    assert len(found) == 1, ref
    return found[0]


def bindings_of(rendered: Rendered, account: str) -> list[tuple[dict[str, Any], set[Grant]]]:
    """Every (binding, grants) reaching a ServiceAccount of the release."""
    out = []
    for binding in rendered.of_kind("RoleBinding") + rendered.of_kind("ClusterRoleBinding"):
        if any(s["kind"] == "ServiceAccount" and s["name"] == account
               and s["namespace"] == NAMESPACE for s in binding["subjects"]):
            role = _role(rendered, binding["roleRef"], binding["metadata"].get("namespace", ""))
            out.append((binding, grants(role["rules"])))
    return out


def executor_grants(rendered: Rendered) -> set[Grant]:
    return set().union(*(g for _, g in bindings_of(rendered, f"{FULLNAME}-executor")))


def allowed_actions(value_set: str) -> set[str]:
    policy = chart_values()["executor"]["policy"]
    actions = {k: dict(v) for k, v in policy["actions"].items()}
    for name, override in VALUE_SETS[value_set].get("executor", {}).get("policy", {}).get(
            "actions", {}).items():
        actions[name] = {**actions.get(name, {}), **override}
    return {name for name, p in actions.items() if p["allowed"]}


def test_values_action_rules_are_what_the_executor_declares() -> None:
    values = chart_values()["executor"]
    assert set(values["actionRules"]) == set(ACTION_SPECS)
    for action, spec in ACTION_SPECS.items():
        declared = values["actionRules"][action]
        ours = grants(declared.get("namespaced", [])) | grants(declared.get("cluster", []))
        assert ours == grants(spec.rules), action
    base = values["baseRules"]
    ours = grants(base["namespaced"]) | grants(base["cluster"]) | grants(base["own"])
    assert ours == grants(EXECUTOR_RULES)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_executor_verbs_equal_the_declared_needs_of_its_allowed_actions(value_set: str) -> None:
    needed = grants(EXECUTOR_RULES)
    for action in allowed_actions(value_set):
        needed |= grants(ACTION_SPECS[action].rules)  # type: ignore[index]
    assert executor_grants(render(value_set)) == needed


def test_a_disallowed_action_gets_no_verbs() -> None:
    granted = executor_grants(render("default"))
    assert ("", "nodes", "patch") not in granted, "cordon_node is not allowed by default"
    assert ("", "nodes", "patch") in executor_grants(render("enforce-everywhere"))


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_only_the_executor_can_write_and_nobody_reads_secrets(value_set: str) -> None:
    rendered = render(value_set)
    for fn in (*FUNCTIONS, "jobs"):
        for binding, granted in bindings_of(rendered, f"{FULLNAME}-{fn}"):
            assert not {g for g in granted if g[1] in ("secrets", "*")}, binding["metadata"]
            if fn != "executor":
                assert not {g for g in granted if g[2] in WRITE_VERBS}, (fn, binding["metadata"])


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_ingest_agent_console_and_jobs_have_no_rights_and_no_token(value_set: str) -> None:
    rendered = render(value_set)
    # Verifying Knative's sender identity, agent and console fetch the issuer's keys with their
    # token (it grants no rights: still no binding); otherwise they have none.
    oidc = VALUE_SETS[value_set].get("oidc", {})
    verifies = oidc.get("enabled", False) and oidc.get("verifySender", True)
    for fn in ("ingest", "agent", "console", "jobs"):
        assert bindings_of(rendered, f"{FULLNAME}-{fn}") == [], fn
        account = rendered.one("ServiceAccount", f"{FULLNAME}-{fn}")
        mounted = bool(verifies) and fn in ("agent", "console")
        assert account["automountServiceAccountToken"] is mounted, fn
    for fn in ("router", "executor"):
        assert rendered.one("ServiceAccount", f"{FULLNAME}-{fn}")["automountServiceAccountToken"]


def _router(rendered: Rendered) -> list[tuple[dict[str, Any], set[Grant]]]:
    return bindings_of(rendered, f"{FULLNAME}-router")


def test_router_reads_exactly_what_it_reads_with_verbs_that_exist() -> None:
    from orchestrator.adapters.kube_reads import KINDS

    granted = set().union(*(g for _, g in _router(render("default"))))
    reads = {(r.group, r.plural) for r in KINDS.values()}
    assert {(g, r) for g, r, _ in granted} == reads | {("", "pods/log")}
    assert {v for _, r, v in granted if r == "pods/log"} == {"get"}, "list/watch do nothing"
    assert {v for _, r, v in granted if r != "pods/log"} == {"get", "list", "watch"}


def test_router_reads_namespaces_only_where_the_executor_may_act() -> None:
    for value_set, namespaces in (("default", {"default"}),
                                  ("slack-no-approval", {"payments", "shop"})):
        bindings = _router(render(value_set))
        per_namespace = {b["metadata"]["namespace"] for b, _ in bindings
                         if b["kind"] == "RoleBinding"}
        assert per_namespace == namespaces, value_set
        (wide,) = [g for b, g in bindings if b["kind"] == "ClusterRoleBinding"]
        assert {r for _, r, _ in wide} == {"nodes"}, "cluster-wide: only what has no namespace"


def test_router_namespaces_can_be_named_apart_from_the_executor_s() -> None:
    from tests.functional.helm_support import render_values

    rendered = render_values({"router": {"readNamespaces": ["shop", "payments", "shop"]}})
    per_namespace = sorted(b["metadata"]["namespace"] for b, _ in _router(rendered)
                           if b["kind"] == "RoleBinding")
    assert per_namespace == ["payments", "shop"]


def test_router_reads_every_namespace_only_when_the_values_say_so() -> None:
    import helm_python as helm

    from tests.functional.helm_support import render_values

    with pytest.raises(helm.HelmRenderError, match="router.readClusterWide"):
        render_values({"executor": {"policy": {"namespaces": {"allow": ["*"]}},
                                    "writeClusterWide": True}})
    with pytest.raises(helm.HelmRenderError, match="router.readClusterWide"):
        render_values({"router": {"readNamespaces": ["team-*"]}})
    rendered = render("enforce-everywhere")
    wide = [g for b, g in _router(rendered) if b["kind"] == "ClusterRoleBinding"]
    assert any(("", "pods/log", "get") in g for g in wide)
    assert not [b for b, _ in _router(rendered) if b["kind"] == "RoleBinding"]


@pytest.mark.parametrize("verbs", [["get", "list"], ["watch"]])
def test_the_chart_refuses_verbs_a_subresource_does_not_have(verbs: list[str]) -> None:
    import helm_python as helm

    from tests.functional.helm_support import render_values

    rules = [*chart_values()["router"]["readRules"],
             {"apiGroups": [""], "resources": ["pods/log"], "verbs": verbs}]
    with pytest.raises(helm.HelmRenderError, match="get only"):
        render_values({"router": {"readRules": rules}})


def _executor_bindings(value_set: str) -> list[dict[str, Any]]:
    return [b for b, _ in bindings_of(render(value_set), f"{FULLNAME}-executor")]


def test_executor_is_bound_per_allowed_namespace_and_cluster_wide_only_for_nodes() -> None:
    bindings = _executor_bindings("slack-no-approval")
    namespaced = {b["metadata"]["namespace"] for b in bindings if b["kind"] == "RoleBinding"}
    assert namespaced == {"payments", "shop", NAMESPACE}, "allow list + its own Leases"
    rendered = render("slack-no-approval")
    (own,) = [b for b in bindings if b["kind"] == "RoleBinding"
              and b["metadata"]["namespace"] == NAMESPACE]
    assert grants(_role(rendered, own["roleRef"], NAMESPACE)["rules"]) == {
        ("coordination.k8s.io", "leases", v) for v in ("get", "list", "create", "update")}
    cluster_wide = [b for b in bindings if b["kind"] == "ClusterRoleBinding"]
    (only,) = cluster_wide
    granted = grants(_role(rendered, only["roleRef"], "")["rules"])
    assert {r for _, r, _ in granted} <= {"nodes", "namespaces"}
    assert {v for _, _, v in granted} == {"get"}


@pytest.mark.parametrize("allow", [["*"], [], ["team-*"]])
def test_all_namespaces_only_when_the_values_say_so_explicitly(allow: list[str]) -> None:
    import helm_python as helm

    from tests.functional.helm_support import render_values

    everywhere = {"policy": {"namespaces": {"allow": allow}}}
    with pytest.raises(helm.HelmRenderError, match="executor.writeClusterWide"):
        render_values({"executor": everywhere})
    rendered = render_values({"executor": {**everywhere, "writeClusterWide": True},
                              "router": {"readClusterWide": True}})
    bindings = [b for b, _ in bindings_of(rendered, f"{FULLNAME}-executor")]
    role_namespaces = {b["metadata"]["namespace"] for b in bindings if b["kind"] == "RoleBinding"}
    assert role_namespaces == {NAMESPACE}
    wide = [b for b in bindings if b["kind"] == "ClusterRoleBinding"]
    assert any(("", "pods/eviction", "create") in grants(_role(rendered, b["roleRef"], "")["rules"])
               for b in wide)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_write_verbs_are_cluster_wide_only_where_the_values_say_so(value_set: str) -> None:
    explicit = VALUE_SETS[value_set].get("executor", {}).get("writeClusterWide", False)
    rendered = render(value_set)
    wide_writes = {g for b, granted in bindings_of(rendered, f"{FULLNAME}-executor")
                   if b["kind"] == "ClusterRoleBinding"
                   for g in granted if g[2] in WRITE_VERBS and g[1] != "nodes"}
    assert bool(wide_writes) == explicit, wide_writes


@pytest.mark.parametrize("values, field", [
    ({"router": {"readClusterWide": "yes"}}, "readClusterWide"),
    ({"executor": {"writeClusterWide": 1}}, "writeClusterWide"),
    ({"router": {"readNamespaces": "shop"}}, "readNamespaces"),
    ({"router": {"clusterReadRules": [{"apiGroups": [""], "resources": ["nodes"],
                                       "verbs": ["patch"]}]}}, "clusterReadRules"),
])
def test_the_schema_types_the_rbac_switches(values: dict[str, Any], field: str) -> None:
    import helm_python as helm

    from tests.functional.helm_support import render_values

    with pytest.raises(helm.HelmValuesError, match=field):
        render_values(values)
