"""Nothing invalid leaves the agent: every proposed action is checked against its runbook.

An action passes only if the cited runbook (one that retrieval found) allows its type, the
predicates of that runbook entry hold on the facts, its target is exactly the object the entry's
`target` names for this incident (the alerted object, its pod, its top owner, the pod's node, its
Job), which is by construction the alerted object, its owner chain or the pod's node, and its
parameters are the runbook's. The executor checks again; this is the agent's own guard, and what
turns an LLM that obeys a prompt injection into a rejected answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.context import ObjectRef
from orchestrator.decide.facts import alerted_pod, same_object, top_owner
from orchestrator.decide.predicates import Verdict, evaluate_all, failures
from orchestrator.decide.situation import Situation
from orchestrator.knowledge.runbook import Runbook, RunbookAction
from orchestrator.plan import ACTION_TYPES, Action

# Which kinds each action can act on (the executor implements exactly these).
TARGET_KINDS: dict[str, tuple[str, ...]] = {
    "delete_pod": ("Pod",),
    "rollout_restart": ("Deployment", "StatefulSet", "DaemonSet"),
    "scale": ("Deployment", "StatefulSet"),
    "rollback": ("Deployment",),
    "cordon_node": ("Node",),
    "delete_failed_job": ("Job",),
}


class InvalidPlan(Exception):
    """A proposal that breaks the rules; `problems` says how, for the retry prompt and humans."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Proposed:
    """An action as proposed (by the LLM, or by a plan being reused), not yet trusted."""

    type: str
    kind: str
    name: str
    namespace: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.type} on {self.kind} {where}{self.name}"


@dataclass(frozen=True)
class Candidate:
    """One runbook action judged against this incident."""

    runbook: Runbook
    action: RunbookAction
    verdicts: list[Verdict]
    target: ObjectRef | None
    problem: str | None = None

    @property
    def applicable(self) -> bool:
        return self.problem is None and all(v.holds for v in self.verdicts)

    def describe(self) -> str:
        if self.applicable:
            return f"{self.action.type}: applies"
        reasons = failures([v for v in self.verdicts if v.known])
        unknown = [v.predicate.fact for v in self.verdicts if not v.known and not v.holds]
        if unknown:
            reasons.append("unknown: " + ", ".join(dict.fromkeys(unknown)))
        if self.problem:
            reasons.append(self.problem)
        return f"{self.action.type}: " + "; ".join(reasons)


def resolve_target(s: Situation, action: RunbookAction) -> ObjectRef | None:
    """The object a runbook action's `target` names for this incident, or None."""
    ctx = s.context
    if action.target == "alerted":
        return ctx.target
    if action.target == "pod":
        return ctx.target if ctx.target is not None and ctx.target.kind == "Pod" else None
    if action.target == "owner":
        return top_owner(ctx)
    if action.target == "job":
        if ctx.target is not None and ctx.target.kind == "Job":
            return ctx.target
        return next((o for o in ctx.owners if o.kind == "Job"), None)
    if ctx.target is not None and ctx.target.kind == "Node":
        return ctx.target
    pod = alerted_pod(s.alert, ctx) if ctx.target is not None and ctx.target.kind == "Pod" \
        else None
    if pod is None or not pod.node:
        return None
    known = next((n.ref for n in ctx.nodes if n.ref.name == pod.node), None)
    return known or ObjectRef(kind="Node", name=pod.node)


def candidates(s: Situation, runbook: Runbook) -> list[Candidate]:
    """Each of the runbook's actions, in its order of preference, with its verdicts."""
    out = []
    for action in runbook.actions:
        target = resolve_target(s, action)
        problem = None
        if target is None:
            problem = f"no {action.target} object for this alert"
        elif target.kind not in TARGET_KINDS[action.type]:
            problem = f"{action.type} cannot act on a {target.kind}"
        else:
            problem = s.blocked(runbook.id, action.type, target)
        out.append(Candidate(runbook, action, evaluate_all(action.when, s.facts), target,
                             problem))
    return out


def in_scope(s: Situation, ref: ObjectRef) -> bool:
    """The alerted object, its owner chain, or the node the alerted pod runs on."""
    ctx = s.context
    if same_object(ref, ctx.target) or any(same_object(ref, o) for o in ctx.owners):
        return True
    pod = alerted_pod(s.alert, ctx)
    return ref.kind == "Node" and pod is not None and pod.node == ref.name


def validate(s: Situation, *, runbook_id: str, chunk: str, proposed: list[Proposed],
             max_actions: int) -> list[Action]:
    """The proposal as trusted actions (targets as the context knows them, uid included).

    Raises InvalidPlan listing every problem found, so one corrective retry can fix them all.
    """
    problems: list[str] = []
    runbook = s.runbooks.get(runbook_id)
    if runbook is None:
        known = ", ".join(s.runbooks) or "none"
        raise InvalidPlan([f"runbook {runbook_id!r} is not one of the retrieved runbooks "
                           f"({known})"])
    chunk_ids = [c.chunk_id for c in s.chunks(runbook_id)]
    if chunk and chunk not in chunk_ids:
        problems.append(f"chunk {chunk!r} is not a section of runbook {runbook_id!r} "
                        f"(its chunks: {', '.join(chunk_ids) or 'none'})")
    if len(proposed) > max_actions:
        problems.append(f"{len(proposed)} actions proposed; at most {max_actions} allowed")
    actions: list[Action] = []
    seen: set[tuple[str, str]] = set()
    options = candidates(s, runbook)
    for p in proposed:
        try:
            action = _check_one(s, runbook, options, p)
        except InvalidPlan as e:
            problems += e.problems
            continue
        identity = (action.type, action.target.key)
        if identity in seen:
            problems.append(f"{p.describe()} is proposed twice")
        seen.add(identity)
        actions.append(action)
    if problems:
        raise InvalidPlan(problems)
    return actions


def _check_one(s: Situation, runbook: Runbook, options: list[Candidate], p: Proposed) -> Action:
    what = p.describe()
    if p.type not in ACTION_TYPES:
        raise InvalidPlan([f"{what}: unknown action type (allowed: {', '.join(ACTION_TYPES)})"])
    same_type = [c for c in options if c.action.type == p.type]
    if not same_type:
        allowed = ", ".join(c.action.type for c in options) or "none: it says page a human"
        raise InvalidPlan([f"{what}: runbook {runbook.id} does not allow {p.type} "
                           f"(its actions: {allowed})"])
    wanted = ObjectRef(kind=p.kind, name=p.name, namespace=p.namespace or None)
    problems = []
    for c in same_type:
        if not c.applicable:
            problems.append(f"{what}: not applicable here ({c.describe()})")
            continue
        if c.target is None:  # applicable implies resolved; kept for the type checker
            continue
        if not same_object(wanted, c.target):
            problems.append(f"{what}: runbook {runbook.id} allows {p.type} only on its "
                            f"`{c.action.target}` target, {_ref(c.target)}")
            continue
        if not in_scope(s, c.target):
            problems.append(f"{what}: {_ref(c.target)} is not the alerted object, its owner "
                            "chain or its node")
            continue
        params = _parameters(c.action, p, problems)
        if params is None:
            continue
        return Action(type=c.action.type, target=c.target, parameters=params,
                      reason=c.action.why[:500])
    raise InvalidPlan(problems)


def _parameters(
    action: RunbookAction, p: Proposed, problems: list[str]
) -> dict[str, int | str] | None:
    """The runbook's parameters; the proposal may repeat them but not change or add any."""
    allowed = {k: str(v) for k, v in action.params.items()}
    bad = [k for k, v in p.parameters.items() if allowed.get(k) != str(v)]
    if bad:
        problems.append(f"{p.describe()}: parameters {sorted(bad)} differ from the runbook's "
                        f"{action.params or '{}'}")
        return None
    return dict(action.params)


def _ref(ref: ObjectRef) -> str:
    return f"{ref.kind} {ref.namespace + '/' if ref.namespace else ''}{ref.name}"
