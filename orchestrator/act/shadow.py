"""Shadow mode: the level a plan runs at, and the "would do" record of a plan at `observe`.

At `observe` the executor writes nothing at all, not even a server-side dry run (the API server
authorizes a dry run as the write it simulates, so it would need write verbs). Every check has
already run on the executor's own reads by then (policy, the runbook's `when`, budget, remembered
failures): what is left is to say what it would have done, and why, in an `action.completed`
with mode `observe` whose results are `would-do`. The trust report counts them; a human promotes
the scope on that evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.act import replies
from orchestrator.act.levels import Resolution, resolve, strictest
from orchestrator.adapters.kube_errors import KubeError
from orchestrator.plan import ActionResult

if TYPE_CHECKING:
    from orchestrator.act.assess import Assessment
    from orchestrator.act.policy import Policy
    from orchestrator.act.replies import Incoming
    from orchestrator.adapters.kube_writes import KubeWrites
    from orchestrator.envelope import Outgoing


def plan_level(kube: KubeWrites, policy: Policy, found: Assessment) -> Resolution:
    """The strictest level over the plan's targets: each target's namespace level (the policy),
    lowered by the marks on the target, its owners and its Namespace object."""
    namespaces: dict[str, object] = {}
    out = []
    for step in found.steps:
        objects: list[dict[str, object]] = []
        namespace = step.action.target.namespace
        if step.target is not None:
            namespace = step.target.ref.namespace
            objects = [step.target.obj, *step.target.owners]
        if namespace:
            if namespace not in namespaces:
                namespaces[namespace] = _namespace(kube, namespace)
            ns = namespaces[namespace]
            if isinstance(ns, dict):
                objects.append(ns)
        out.append(resolve(default=policy.mode, levels=policy.namespaces.levels,
                           namespace=namespace, objects=objects))
    found_level = strictest(out)
    return found_level if found_level is not None else resolve(
        default=policy.mode, levels=policy.namespaces.levels, namespace=None, objects=())


def _namespace(kube: KubeWrites, name: str) -> dict[str, object] | None:
    try:
        ns = kube.get("Namespace", None, name)
    except KubeError:
        return None  # unreadable: its mark cannot lower the level; the policy's still holds
    if ns is not None:
        ns.setdefault("kind", "Namespace")
    return ns


def would_do(inc: Incoming, found: Assessment, policy: Policy, scope: Resolution,
             pkey: str | None) -> Outgoing:
    """`action.completed` (mode `observe`): one `would-do` result per action still to do, each
    saying whether it would have run alone or waited for a human, and at which level."""
    results = replies.results(found, {})  # steps already done say so
    for step in found.pending:
        why = policy.needs_human(step.action.type)
        verdict = (f"would wait for a human approval: {why}" if why
                   else "would run without a human at auto")
        results.append(ActionResult(action=step.action, outcome="would-do",
                                    api_result=f"{verdict}; nothing executed at "
                                               f"{scope.describe()}"))
    return replies.completed(inc, "observe", results, None, pkey)
