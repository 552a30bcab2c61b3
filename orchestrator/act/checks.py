"""Every reason the executor refuses an action, checked again whatever the event says.

A refusal is never "fixed up": an out-of-bounds replica count is not clamped, a target in the
wrong namespace is not swapped for the right one. The plan is refused whole, with reasons a
human can read, and escalated. Inputs are the policy, the cited runbooks' allowed actions, and
objects read from the cluster just now; the plan contributes only what it asks for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orchestrator.act.actions import ACTION_SPECS
from orchestrator.act.levels import marked_level
from orchestrator.act.policy import Policy
from orchestrator.act.targets import Json, Resolved, controller_of, same_object
from orchestrator.act.writes import previous_replicaset, template_matches
from orchestrator.adapters.kube_writes import KubeWrites
from orchestrator.events import Alert
from orchestrator.gitops import gitops_tool
from orchestrator.ids import incident_key as compute_incident_key
from orchestrator.knowledge.runbook import Runbook
from orchestrator.plan import Action, Plan


def plan_refusals(*, incident_key: str, alert: Alert, plan: Plan, cluster_name: str | None,
                  require_cluster_label: bool = True) -> list[str]:
    """What is wrong with the plan as a whole: whose incident it is, which cluster, which alert."""
    out = []
    if plan.incident_key != incident_key:
        out.append(f"plan {plan.plan_id} belongs to incident {plan.incident_key!r}, "
                   f"not {incident_key!r}")
    if plan.fingerprint != alert.fingerprint:
        out.append("plan fingerprint does not match the alert's")
    expected = compute_incident_key(alert.fingerprint, alert.starts_at, alert.cluster)
    if incident_key != expected:
        out.append(f"incident key {incident_key!r} is not the alert's ({expected!r})")
    if alert.status != "firing":
        out.append("the alert is resolved: nothing to remediate")
    if not plan.actions:
        out.append("the plan has no actions")
    if alert.cluster is not None:
        if cluster_name is None:
            out.append(f"the alert is labelled cluster={alert.cluster!r} but this executor "
                       "does not know its own cluster name (EXECUTOR_CLUSTER_NAME)")
        elif alert.cluster != cluster_name:
            out.append(f"the alert is about cluster {alert.cluster!r}, this is "
                       f"{cluster_name!r}")
    elif cluster_name is not None and require_cluster_label:
        out.append(f"the alert has no `cluster` label, so nothing says it is about this cluster "
                   f"({cluster_name!r}); the policy requires one (require_cluster_label)")
    return out


def runbook_refusal(action: Action, plan: Plan, runbooks: dict[str, Runbook]) -> str | None:
    """The action must be one the cited runbook allows (policy is checked separately; whether
    its `when` holds now is `evidence.licence_refusals`)."""
    cited = [c.runbook for c in plan.citations]
    if not cited:
        return "the plan cites no runbook, so no action is grounded"
    unknown = sorted({r for r in cited if r not in runbooks})
    if unknown:
        return f"the plan cites unknown runbook(s) {unknown}"
    allowed = {a.type for r in cited for a in runbooks[r].actions}
    if action.type not in allowed:
        return (f"{action.type} is not among the actions the cited runbook(s) "
                f"{sorted(set(cited))} allow ({sorted(allowed) or 'none'})")
    return None


def static_refusals(action: Action, *, policy: Policy) -> list[str]:
    """Checks that need no cluster read: policy allow-list, kind, namespace, scale bounds."""
    out = []
    rule = policy.action(action.type)
    if not rule.allowed:
        out.append(f"{action.type} is not allowed by policy")
    spec = ACTION_SPECS[action.type]
    target = action.target
    if target.kind not in spec.kinds:
        out.append(f"{action.type} cannot act on a {target.kind} (only {', '.join(spec.kinds)})")
    elif target.kind != "Node":
        if not target.namespace:
            out.append(f"{target.kind} {target.name} has no namespace")
        elif (why := policy.namespaces.refusal(
                target.namespace, level=policy.namespace_level(target.namespace))) is not None:
            out.append(why)
    elif target.namespace:
        out.append("a Node has no namespace")
    return out


def cluster_refusals(action: Action, *, target: Resolved, alerted: Iterable[Resolved],
                     kube: KubeWrites, policy: Policy) -> list[str]:
    """Checks against the live objects: alerted chain, opt-out, GitOps/HPA, action fitness."""
    out = []
    if action.target.uid and action.target.uid != target.ref.uid:
        out.append(f"{target.ref.key} has uid {target.ref.uid}, not the {action.target.uid} "
                   "the plan names: it was recreated")
    chain_keys = [r for a in alerted for r in a.chain]
    if not any(same_object(target.ref, r) for r in chain_keys):
        named = ", ".join(sorted({r.key for r in chain_keys})) or "nothing in this cluster"
        out.append(f"{target.ref.key} is neither the alerted object nor one of its owners "
                   f"({named})")
    if target.unreadable_owner:
        out.append(f"{target.ref.key} is controlled by {target.unreadable_owner}, which the "
                   "executor cannot inspect")
    objects = [target.obj, *target.owners]
    if target.ref.namespace:
        ns = kube.get("Namespace", None, target.ref.namespace)
        if ns is not None:
            ns.setdefault("kind", "Namespace")
            objects.append(ns)
    for obj in objects:
        if (how := opted_out(obj)) is not None:
            out.append(f"{how}: automation is off")
    if action.type in ("scale", "rollback"):
        out += _managed_refusals(target, kube)
    out += _fitness(action, target, policy, kube)
    return out


def _managed_refusals(target: Resolved, kube: KubeWrites) -> list[str]:
    """Scale and rollback would be reverted by an HPA or a GitOps controller: refuse them."""
    out = []
    ref = target.ref
    for hpa in kube.list("HorizontalPodAutoscaler", ref.namespace):
        st = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if st.get("kind") == ref.kind and st.get("name") == ref.name:
            out.append(f"{ref.key} is scaled by HorizontalPodAutoscaler "
                       f"{(hpa.get('metadata') or {}).get('name')}")
    for obj in (target.obj, *target.owners):
        if (tool := gitops_manager(obj)) is not None:
            out.append(f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')} is "
                       f"managed by {tool}, which would revert the change")
    return out


def gitops_manager(obj: Json) -> str | None:
    """`Argo CD` / `Flux` when the object carries their marks (`orchestrator.gitops`: the same
    answer the `workload.managed_by_gitops` fact gives), else None."""
    return gitops_tool(obj.get("metadata") or {})


def opted_out(obj: Json) -> str | None:
    """How the object opts out of automation (`orchestrator.io/automation: disabled` as an
    annotation or a label, or any value `levels.marked_level` reads as disabled), or None. The
    other levels (`observe`, `dry-run`, `approve`) lower the plan's level instead (`levels`)."""
    marked = marked_level(obj)
    return marked[1] if marked is not None and marked[0] == "disabled" else None


def _fitness(action: Action, target: Resolved, policy: Policy, kube: KubeWrites) -> list[str]:
    """Is this object in a state where this action makes sense at all?"""
    obj = target.obj
    if action.type == "delete_pod":
        owner = controller_of(obj)
        if owner is None or owner.get("kind") == "Node":
            return [f"pod {target.ref.name} has no controller to replace it: evicting it would "
                    "lose it"]
    elif action.type == "delete_failed_job":
        conditions = (obj.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Failed" and c.get("status") == "True" for c in conditions):
            return [f"job {target.ref.name} has not failed"]
    elif action.type == "scale":
        return scale_refusals(action, obj, policy)
    elif action.type == "rollback":
        previous = previous_replicaset(kube, obj)
        if previous is None:
            return [f"{target.ref.key} has no previous revision to roll back to"]
        if template_matches(obj, previous):
            return [f"{target.ref.key} already runs its previous revision's template"]
    return []


def desired_replicas(action: Action) -> int | None:
    value = action.parameters.get("replicas")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    # ASCII digits only: str.isdigit() accepts "²", which int() then refuses.
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,9}", value.strip()):
        return int(value.strip())
    return None


def scale_refusals(action: Action, obj: Json, policy: Policy) -> list[str]:
    bounds = policy.scale
    wanted = desired_replicas(action)
    if wanted is None:
        return ["scale needs an integer `replicas` parameter"]
    current = int((obj.get("spec") or {}).get("replicas", 1))
    out = []
    if not bounds.min_replicas <= wanted <= bounds.max_replicas:
        out.append(f"{wanted} replicas is outside the policy's range "
                   f"[{bounds.min_replicas}, {bounds.max_replicas}]")
    if abs(wanted - current) > bounds.max_step:
        out.append(f"{current} → {wanted} replicas is a step of {abs(wanted - current)}, "
                   f"above the policy's max_step {bounds.max_step}")
    if wanted == current:
        out.append(f"the workload already has {current} replicas")
    return out
