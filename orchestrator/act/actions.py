"""The six remediation actions as data: what each may target, what it needs from RBAC, its risk.

`rbac_rules()` is the single source the Helm chart's ClusterRole is generated from and tested
against: the executor's ServiceAccount gets exactly the verbs the actions and its own checks
need, nothing else (no `update` on workloads, no `delete` on pods: pods go through evictions).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.plan import ActionType, Risk


@dataclass(frozen=True)
class Rule:
    """One RBAC rule: an API group, a resource (maybe `resource/subresource`), its verbs."""

    api_group: str
    resource: str
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class ActionSpec:
    """One action type: the kinds it may act on, the API verbs it uses, its default risk."""

    kinds: tuple[str, ...]
    rules: tuple[Rule, ...]
    default_risk: Risk
    reversible: bool
    summary: str


_WORKLOAD_READS = (
    Rule("apps", "replicasets", ("get",)),
    Rule("apps", "deployments", ("get",)),
    Rule("apps", "statefulsets", ("get",)),
    Rule("apps", "daemonsets", ("get",)),
)

ACTION_SPECS: dict[ActionType, ActionSpec] = {
    "delete_pod": ActionSpec(
        kinds=("Pod",),
        rules=(Rule("", "pods", ("get",)), Rule("", "pods/eviction", ("create",))),
        default_risk="low", reversible=True,
        summary="evict one controller-owned pod (PodDisruptionBudgets hold); its controller "
                "replaces it",
    ),
    "rollout_restart": ActionSpec(
        kinds=("Deployment", "StatefulSet", "DaemonSet"),
        rules=(Rule("apps", "deployments", ("get", "patch")),
               Rule("apps", "statefulsets", ("get", "patch")),
               Rule("apps", "daemonsets", ("get", "patch"))),
        default_risk="low", reversible=True,
        summary="roll every pod of a workload, as `kubectl rollout restart` does",
    ),
    "scale": ActionSpec(
        kinds=("Deployment", "StatefulSet"),
        rules=(Rule("apps", "deployments", ("get", "patch")),
               Rule("apps", "statefulsets", ("get", "patch")),
               Rule("autoscaling", "horizontalpodautoscalers", ("list",))),
        default_risk="medium", reversible=True,
        summary="change a workload's replicas by a bounded step",
    ),
    "rollback": ActionSpec(
        kinds=("Deployment",),
        rules=(Rule("apps", "deployments", ("get", "patch")),
               Rule("apps", "replicasets", ("list",)),
               Rule("autoscaling", "horizontalpodautoscalers", ("list",))),
        default_risk="medium", reversible=True,
        summary="return a Deployment to its previous ReplicaSet's template, as "
                "`kubectl rollout undo` does",
    ),
    "cordon_node": ActionSpec(
        kinds=("Node",),
        rules=(Rule("", "nodes", ("get", "patch")),),
        default_risk="medium", reversible=True,
        summary="mark a node unschedulable; running pods stay",
    ),
    "delete_failed_job": ActionSpec(
        kinds=("Job",),
        rules=(Rule("batch", "jobs", ("get", "delete")),),
        default_risk="medium", reversible=False,
        summary="delete a failed Job and its pods (propagation Background)",
    ),
}

EXECUTOR_RULES: tuple[Rule, ...] = (
    # Owner chains, opt-out annotations and GitOps markers are read from the cluster itself,
    # and so are the facts a runbook's `when` needs (act/evidence.py): a workload's pods, its
    # ReplicaSets (revisions), a Job's pods, a CronJob's Jobs.
    Rule("", "pods", ("get", "list")),
    Rule("apps", "replicasets", ("list",)),
    Rule("batch", "jobs", ("list",)),
    Rule("", "nodes", ("get",)),
    Rule("", "namespaces", ("get",)),
    *_WORKLOAD_READS,
    Rule("batch", "jobs", ("get",)),
    Rule("batch", "cronjobs", ("get",)),
    Rule("autoscaling", "horizontalpodautoscalers", ("list",)),
    # `kubectl describe` shows what the executor did and why.
    Rule("", "events", ("create",)),
    # The durable per-target budget. The chart may narrow this to a Role in its own namespace.
    Rule("coordination.k8s.io", "leases", ("get", "list", "create", "update")),
)

PLAN_ANNOTATION = "orchestrator.io/plan"
"""Set in the same write as the action: a redelivered plan finds itself already applied."""

APPLIED_AT_ANNOTATION = "orchestrator.io/applied-at"
OPT_OUT_ANNOTATION = "orchestrator.io/automation"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def rbac_rules() -> list[dict[str, list[str]]]:
    """ClusterRole `rules` covering every action and the executor's own needs, merged per
    (group, resource), sorted: stable output a chart template or test can compare."""
    merged: dict[tuple[str, str], set[str]] = {}
    for spec in ACTION_SPECS.values():
        for rule in spec.rules:
            merged.setdefault((rule.api_group, rule.resource), set()).update(rule.verbs)
    for rule in EXECUTOR_RULES:
        merged.setdefault((rule.api_group, rule.resource), set()).update(rule.verbs)
    return [
        {"apiGroups": [group], "resources": [res], "verbs": sorted(verbs)}
        for (group, res), verbs in sorted(merged.items())
    ]


if __name__ == "__main__":  # `python -m orchestrator.act.actions`: the rules, for the chart
    import json

    print(json.dumps(rbac_rules(), indent=2))
