"""Evaluating a runbook action's `when` predicates against the computed facts.

The rules are docs/runbook-format.md's: all predicates must hold; a predicate over an unknown
fact is false (even `ne` and `not_in`: unknown never licenses an action), only `missing` is true
for it; no type coercion (`3` is not `"3"`, and, unlike Python, `true` is not `1`).
Every verdict carries a sentence a reviewer can check, because an escalation must say which
condition stopped the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.decide.facts import Facts
from orchestrator.knowledge.runbook import Predicate

_NUMERIC_OPS = {"gt", "gte", "lt", "lte"}


@dataclass(frozen=True)
class Verdict:
    predicate: Predicate
    holds: bool
    known: bool
    actual: Any = None

    def describe(self) -> str:
        p = self.predicate
        cond = f"{p.fact} {p.op}" + ("" if p.op in ("exists", "missing") else f" {p.value!r}")
        seen = f"{self.actual!r}" if self.known else "unknown"
        return f"{cond}: {'holds' if self.holds else 'fails'} ({p.fact} = {seen})"


def evaluate(predicate: Predicate, facts: Facts) -> Verdict:
    known = predicate.fact in facts
    actual = facts.get(predicate.fact)
    op, want = predicate.op, predicate.value
    if op == "missing":
        return Verdict(predicate, not known, known, actual)
    if not known:
        return Verdict(predicate, False, False)
    holds: bool
    if op == "exists":
        holds = True
    elif op == "eq":
        holds = _equal(actual, want)
    elif op == "ne":
        holds = not _equal(actual, want)
    elif op == "in":
        holds = isinstance(want, list) and any(_equal(actual, w) for w in want)
    elif op == "not_in":
        holds = isinstance(want, list) and not any(_equal(actual, w) for w in want)
    elif op in _NUMERIC_OPS:
        holds = _compare(op, actual, want)
    else:  # an operator the model allows but this evaluator does not know: never act on it
        holds = False
    return Verdict(predicate, holds, True, actual)


def evaluate_all(predicates: Sequence[Predicate], facts: Facts) -> list[Verdict]:
    return [evaluate(p, facts) for p in predicates]


def all_hold(predicates: Sequence[Predicate], facts: Facts) -> bool:
    """True when every predicate holds. An empty list never licenses anything."""
    return bool(predicates) and all(evaluate(p, facts).holds for p in predicates)


def failures(verdicts: Sequence[Verdict]) -> list[str]:
    return [v.describe() for v in verdicts if not v.holds]


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) or _is_number(b):
        return _is_number(a) and _is_number(b) and a == b
    return type(a) is type(b) and bool(a == b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if not (_is_number(a) and _is_number(b)):
        return False
    if op == "gt":
        return bool(a > b)
    if op == "gte":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    return bool(a <= b)
