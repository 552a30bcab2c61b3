"""Autonomy levels: the namespace's level from the policy, lowered by the workload's marks."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.act.levels import as_level, marked_level, resolve
from orchestrator.act.policy import parse_policy

ORDER = ["disabled", "observe", "dry-run", "approve", "auto"]


def _obj(kind: str, name: str, value: str | None, *, where: str = "annotations") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if value is not None:
        meta[where] = {"orchestrator.io/automation": value}
    return {"kind": kind, "metadata": meta}


@pytest.mark.parametrize("namespace_level", ORDER)
@pytest.mark.parametrize("mark", [None, "enabled", "true", *ORDER])
@pytest.mark.parametrize("where", ["annotations", "labels"])
def test_the_stricter_of_namespace_and_workload_wins(namespace_level: str, mark: str | None,
                                                     where: str) -> None:
    policy = parse_policy(f"mode: auto\nnamespaces: {{levels: {{shop: {namespace_level}}}}}\n")
    got = resolve(default=policy.mode, levels=policy.namespaces.levels, namespace="shop",
                  objects=[_obj("Deployment", "web", mark, where=where)])
    if mark in (None, "enabled", "true"):
        expected = namespace_level
    else:
        expected = ORDER[min(ORDER.index(namespace_level), ORDER.index(mark))]
    assert got.level == expected
    assert got.why[0] == f"namespaces.levels['shop']: {namespace_level}"
    if expected != namespace_level:
        word = "annotated" if where == "annotations" else "labelled"
        assert got.why[-1] == f"Deployment web is {word} orchestrator.io/automation: {mark}"


def test_a_namespace_entry_replaces_the_cluster_default_both_ways() -> None:
    policy = parse_policy("mode: observe\nnamespaces: {levels: {shop: auto, payments: off}}\n")
    assert policy.namespace_level("shop") == "auto"  # promoted above the default
    assert policy.namespace_level("payments") == "disabled"  # bare `off`, YAML's false
    assert policy.namespace_level("other") == "observe"
    assert policy.namespace_level(None) == "observe"


def test_an_exact_name_beats_a_glob_and_among_globs_the_strictest_wins() -> None:
    policy = parse_policy("namespaces: {levels: {'team-*': auto, 'team-a*': observe, "
                          "team-ab: approve, '*': dry-run}}\n")
    assert policy.namespace_level("team-ab") == "approve"
    assert policy.namespace_level("team-ac") == "observe"
    assert policy.namespace_level("team-b") == "dry-run"
    assert policy.namespace_level("shop") == "dry-run"


@pytest.mark.parametrize(("mode", "level"), [("off", "disabled"), ("dry-run", "dry-run"),
                                             ("enforce", "auto"), ("observe", "observe"),
                                             ("approve", "approve"), ("auto", "auto")])
def test_the_old_modes_are_aliases(mode: str, level: str) -> None:
    assert parse_policy(f"mode: {mode}\n").level == level
    assert as_level(mode) == level


@pytest.mark.parametrize("value", ["off", "false", "no", "0", "Disabled", "maybe"])
def test_every_opt_out_spelling_and_anything_not_understood_disables(value: str) -> None:
    marked = marked_level(_obj("Namespace", "shop", value))
    assert marked is not None and marked[0] == "disabled"


def test_owners_and_the_namespace_object_lower_the_level_too() -> None:
    got = resolve(default="auto", levels={}, namespace="shop",
                  objects=[_obj("Pod", "web-1", None), _obj("Deployment", "web", "approve"),
                           _obj("Namespace", "shop", "dry-run")])
    assert got.level == "dry-run"
    assert got.describe() == ("level dry-run (the policy's mode: auto; Deployment web is "
                              "annotated orchestrator.io/automation: approve; Namespace shop is "
                              "annotated orchestrator.io/automation: dry-run)")


def test_a_mark_never_raises_the_level() -> None:
    got = resolve(default="observe", levels={}, namespace="shop",
                  objects=[_obj("Deployment", "web", "auto")])
    assert got.level == "observe" and len(got.why) == 1


@pytest.mark.parametrize(("text", "writes"), [
    ("mode: observe\n", False),
    ("mode: observe\nnamespaces: {levels: {'*': observe, shop: disabled}}\n", False),
    ("mode: observe\nnamespaces: {levels: {shop: dry-run}}\n", True),
    ("mode: dry-run\n", True),
    ("{}\n", True),
])
def test_shadow_mode_is_every_scope_at_observe_or_stricter(text: str, writes: bool) -> None:
    assert parse_policy(text).writes_anywhere() is writes


def test_observe_watches_namespaces_outside_the_allow_list_but_never_denied_ones() -> None:
    policy = parse_policy("mode: observe\nnamespaces: {allow: [default], levels: {shop: auto}}\n")
    ns = policy.namespaces
    assert ns.refusal("payments", level=policy.namespace_level("payments")) is None
    assert "allow list" in (ns.refusal("shop", level=policy.namespace_level("shop")) or "")
    assert "denied" in (ns.refusal("kube-system", level="observe") or "")
