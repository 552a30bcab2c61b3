"""Validation of proposed actions: what an LLM (or a hostile prompt) asks for must not pass."""

from __future__ import annotations

import pytest

from orchestrator.decide.validate import InvalidPlan, Proposed, validate
from tests import incidents as inc


def check(*proposed: Proposed, runbook: str = "k8s_crashloop", chunk: str = "",
          max_actions: int = 1, ev=None):  # type: ignore[no-untyped-def]
    s = inc.situation(ev or inc.crashloop(), (runbook, 1.0), ("k8s_oomkilled", 0.3))
    return validate(s, runbook_id=runbook, chunk=chunk, proposed=list(proposed),
                    max_actions=max_actions)


POD = Proposed("delete_pod", "Pod", inc.POD.name, "payments")


def problems(*proposed: Proposed, **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidPlan) as e:
        check(*proposed, **kw)
    return str(e.value)


def test_an_applicable_action_on_its_target_passes_with_the_contexts_ref() -> None:
    (action,) = check(POD, chunk="k8s_crashloop#what-to-do")
    assert action.target == inc.POD  # uid filled in from the context
    assert action.reason.startswith("One replica keeps exiting")  # the runbook's, none proposed


def test_empty_plan_is_valid() -> None:
    assert check() == []


def test_action_type_outside_the_vocabulary() -> None:
    assert "unknown action type" in problems(Proposed("delete_namespace", "Namespace", "prod"))


def test_action_the_runbook_does_not_allow() -> None:
    msg = problems(Proposed("cordon_node", "Node", inc.NODE.name))
    assert "does not allow cordon_node" in msg


def test_action_whose_predicates_fail() -> None:
    msg = problems(Proposed("rollback", "Deployment", "checkout", "payments"))
    assert "not applicable here" in msg and "newest_revision_age_minutes lt 45: fails" in msg


def test_another_object_in_another_namespace() -> None:
    msg = problems(Proposed("delete_pod", "Pod", "checkout-7d9f8b6c5-x2k4q", "prod"))
    assert "only on its `pod` target, Pod payments/checkout-7d9f8b6c5-x2k4q" in msg
    msg = problems(Proposed("delete_pod", "Pod", "payments-db-0", "payments"))
    assert "only on its `pod` target" in msg


def test_right_action_wrong_level_of_the_owner_chain() -> None:
    # delete_pod targets the pod; naming the Deployment (in the chain, but not the target the
    # runbook says) is refused too.
    assert "only on its `pod` target" in problems(
        Proposed("delete_pod", "Deployment", "checkout", "payments"))


def test_parameters_cannot_be_invented() -> None:
    bad = Proposed("delete_pod", "Pod", inc.POD.name, "payments",
                   parameters={"gracePeriodSeconds": "0"})
    assert "parameters ['gracePeriodSeconds'] differ" in problems(bad)


def test_too_many_and_duplicate_actions() -> None:
    assert "at most 1 allowed" in problems(POD, POD)
    assert "proposed twice" in problems(POD, POD, max_actions=2)


def test_runbook_not_retrieved_and_unknown_chunk() -> None:
    s = inc.situation(inc.crashloop(), ("k8s_crashloop", 1.0))
    with pytest.raises(InvalidPlan, match="not one of the retrieved runbooks"):
        validate(s, runbook_id="node_not_ready", chunk="", proposed=[], max_actions=1)
    assert "is not a section of runbook" in problems(POD, chunk="k8s_crashloop#nope")


def test_node_of_the_pod_is_in_scope_for_a_node_runbook() -> None:
    # A pod alert whose runbook cordons `node`: the node the alerted pod runs on, no other.
    from orchestrator.knowledge.runbook import parse_runbook

    rb = parse_runbook("""---
id: bad_node
title: Pods failing on one bad node
alerts: [PodsFailingOnNode]
actions:
  - type: cordon_node
    risk: medium
    target: node
    why: Keep new pods off the node the failing pod runs on.
    when:
      - {fact: node.ready, op: eq, value: true}
---
## What to do
Cordon it.
""", path="bad_node.md")
    s = inc.situation(inc.crashloop(), ("bad_node", 1.0), runbooks={"bad_node": rb})
    (action,) = validate(s, runbook_id="bad_node", chunk="",
                         proposed=[Proposed("cordon_node", "Node", "worker-3")], max_actions=1)
    assert action.target == inc.NODE
    with pytest.raises(InvalidPlan, match="only on its `node` target, Node worker-3"):
        validate(s, runbook_id="bad_node", chunk="",
                 proposed=[Proposed("cordon_node", "Node", "worker-9")], max_actions=1)
