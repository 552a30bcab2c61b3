"""Predicate semantics of docs/runbook-format.md: no coercion, unknown never licenses an action."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.decide.predicates import all_hold, evaluate
from orchestrator.knowledge.runbook import Predicate

FACTS: dict[str, Any] = {
    "container.restart_count": 5,
    "container.last_termination_reason": "Error",
    "workload.managed_by_gitops": False,
    "node.condition.Ready": "True",
    "workload.newest_revision_age_minutes": 12.5,
}


def p(fact: str, op: str, value: Any = None) -> Predicate:
    return Predicate(fact=fact, op=op, value=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("pred", "holds"), [
    (p("container.last_termination_reason", "eq", "Error"), True),
    (p("container.last_termination_reason", "eq", "OOMKilled"), False),
    (p("container.last_termination_reason", "ne", "OOMKilled"), True),
    (p("container.restart_count", "eq", 5), True),
    (p("container.restart_count", "eq", 5.0), True),
    (p("container.restart_count", "eq", "5"), False),  # no coercion
    (p("workload.managed_by_gitops", "eq", False), True),
    (p("workload.managed_by_gitops", "eq", 0), False),  # a bool is not a number
    (p("workload.managed_by_gitops", "eq", "false"), False),
    (p("node.condition.Ready", "eq", "True"), True),
    (p("node.condition.Ready", "eq", True), False),  # the YAML pitfall the format warns about
    (p("container.last_termination_reason", "in", ["Error", "Completed"]), True),
    (p("container.last_termination_reason", "not_in", ["OOMKilled"]), True),
    (p("container.restart_count", "in", ["5"]), False),
    (p("container.restart_count", "gte", 3), True),
    (p("container.restart_count", "gt", 5), False),
    (p("workload.newest_revision_age_minutes", "lt", 45), True),
    (p("workload.newest_revision_age_minutes", "lte", 12.5), True),
    (p("container.last_termination_reason", "gt", 1), False),  # non-numeric fact
    (p("workload.managed_by_gitops", "lt", 1), False),  # bool fact is not numeric
    (p("container.restart_count", "exists"), True),
    (p("container.restart_count", "missing"), False),
])
def test_known_facts(pred: Predicate, holds: bool) -> None:
    assert evaluate(pred, FACTS).holds is holds


@pytest.mark.parametrize("op,value", [
    ("eq", "x"), ("ne", "x"), ("in", ["x"]), ("not_in", ["x"]), ("gt", 1), ("gte", 1),
    ("lt", 1), ("lte", 1), ("exists", None),
])
def test_unknown_fact_is_false_even_for_negations(op: str, value: Any) -> None:
    v = evaluate(p("pod.phase", op, value), FACTS)
    assert v.holds is False and v.known is False
    assert "unknown" in v.describe()


def test_missing_is_the_only_thing_true_of_an_unknown_fact() -> None:
    assert evaluate(p("pod.phase", "missing"), FACTS).holds is True


def test_all_hold_needs_every_predicate_and_at_least_one() -> None:
    good = p("container.restart_count", "gte", 3)
    assert all_hold([good], FACTS)
    assert not all_hold([good, p("container.last_termination_reason", "eq", "OOMKilled")], FACTS)
    assert not all_hold([], FACTS)


def test_predicates_as_yaml_declares_them() -> None:
    # Front matter is YAML: a quoted "True" is a node-condition string, bare false a bool.
    doc = yaml.safe_load("""
    - {fact: node.condition.Ready, op: eq, value: "True"}
    - {fact: workload.managed_by_gitops, op: eq, value: false}
    - {fact: container.last_termination_reason, op: in, value: [Error, Unknown]}
    """)
    preds = [Predicate.model_validate(d) for d in doc]
    assert all_hold(preds, FACTS)


def test_describe_says_what_was_seen() -> None:
    v = evaluate(p("container.restart_count", "gte", 10), FACTS)
    assert v.describe() == "container.restart_count gte 10: fails (container.restart_count = 5)"


scalar = st.one_of(st.booleans(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False),
                   st.sampled_from(["Error", "OOMKilled", "True", "", "5"]))
ops = st.sampled_from(["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"])


@given(op=ops, value=scalar, facts=st.dictionaries(st.sampled_from(["a", "b"]), scalar))
def test_a_fact_not_computed_never_licenses_an_action(op: str, value: Any,
                                                      facts: dict[str, Any]) -> None:
    if op in ("in", "not_in"):
        value = [value]
    elif op in ("gt", "gte", "lt", "lte") and (isinstance(value, bool)
                                               or not isinstance(value, int | float)):
        value = 1
    elif op == "exists":
        value = None
    assert evaluate(p("not.computed", op, value), facts).holds is False


@given(value=scalar, other=scalar)
def test_eq_and_ne_are_complementary_on_known_facts(value: Any, other: Any) -> None:
    facts = {"f": value}
    assert evaluate(p("f", "eq", other), facts).holds != evaluate(p("f", "ne", other), facts).holds
