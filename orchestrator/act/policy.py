"""The executor's policy: one YAML file (the Helm values carry it), strict, with a safe default.

Out of the box the mode is `dry-run`: nothing is written until an operator chooses `enforce`.
In `enforce`, only the low-risk, reversible actions (`delete_pod`, `rollout_restart`) run
without a human, and never in the system namespaces. Unknown keys are errors: a misspelt
`auto_aprove` must fail loudly, not silently fall back to a default.

Example::

    mode: auto                     # the cluster default level: disabled | observe | dry-run
                                   # | approve | auto (off, enforce: aliases, `levels.py`)
    kill_switch: false             # true: no action at all, whatever the mode
    auto_approve_max_risk: low     # an action runs without a human only at or below this risk
    actions:
      scale: {allowed: true, risk: medium, auto_approve: false}
      delete_failed_job: {allowed: false}
    namespaces: {allow: ["shop", "team-*"], deny: ["kube-system", "payments"],
                 levels: {shop: auto, "team-*": dry-run, "*": observe}}
    budget: {max_actions: 3, window_seconds: 3600, settle_seconds: 300}
    scale: {max_step: 2, min_replicas: 1, max_replicas: 20}
    approvers: ["alice@example.com", "slack:U024BE7LH"]
    require_cluster_label: true    # an executor with a cluster name refuses unlabelled alerts
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, model_validator

from orchestrator.act.actions import ACTION_SPECS
from orchestrator.act.levels import LEVELS, Level, as_level, namespace_level
from orchestrator.errors import PermanentError
from orchestrator.models import Frozen
from orchestrator.plan import ActionType, Risk

if TYPE_CHECKING:
    import yaml

Mode = Literal["disabled", "observe", "dry-run", "approve", "auto", "off", "enforce"]
"""A level, or one of the old modes (`off` = disabled, `enforce` = auto)."""
RISK_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2}
AUTO_BY_DEFAULT: frozenset[str] = frozenset({"delete_pod", "rollout_restart"})
SYSTEM_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"]


class PolicyError(PermanentError):
    """The policy file cannot be read or breaks the format: every plan is refused."""


class ActionPolicy(Frozen):
    """One action type: may it run at all, how risky the operator rates it, may it run alone."""

    allowed: bool = True
    risk: Risk
    auto_approve: bool = False


class NamespacePolicy(Frozen):
    """Glob patterns (`team-*`); deny wins over allow; an empty allow list allows the rest.
    The allow list is where the executor may write: a namespace at `observe` writes nothing,
    so it is watched whether allowed or not (the deny list still holds)."""

    allow: list[str] = []
    deny: list[str] = Field(default_factory=lambda: list(SYSTEM_NAMESPACES))
    levels: dict[str, Mode] = {}
    """Level per namespace name or glob (`levels.py`); replaces the policy's `mode` there."""

    def refusal(self, namespace: str, *, level: Level | None = None) -> str | None:
        denied = next((p for p in self.deny if fnmatch.fnmatchcase(namespace, p)), None)
        if denied is not None:
            return f"namespace {namespace!r} is denied by policy ({denied!r})"
        if level == "observe":
            return None
        if self.allow and not any(fnmatch.fnmatchcase(namespace, p) for p in self.allow):
            return f"namespace {namespace!r} is not in the policy's allow list"
        return None


class BudgetPolicy(Frozen):
    """How much the executor may do to one workload (its top owner) in a sliding window."""

    max_actions: int = Field(default=3, ge=1)
    window_seconds: float = Field(default=3600.0, gt=0)
    settle_seconds: float = Field(default=300.0, ge=0)
    """After an action on a workload, other plans' actions on it within this many seconds are
    not performed: one remediation at a time, and verification gets to see its effect."""


class ScaleBounds(Frozen):
    """Limits on `scale`: the largest change per action and the replica range it may reach."""

    max_step: int = Field(default=2, ge=1)
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ScaleBounds:
        if self.min_replicas > self.max_replicas:
            raise ValueError("scale.min_replicas is above scale.max_replicas")
        return self


class Policy(Frozen):
    """The whole policy; `Policy()` is the built-in default."""

    mode: Mode = "dry-run"
    """The cluster default level (`levels.py`); `namespaces.levels` and the workloads'
    `orchestrator.io/automation` marks refine it per scope."""
    kill_switch: bool = False
    auto_approve_max_risk: Risk = "low"
    actions: dict[ActionType, ActionPolicy] = {}
    namespaces: NamespacePolicy = NamespacePolicy()
    budget: BudgetPolicy = BudgetPolicy()
    scale: ScaleBounds = ScaleBounds()
    approvers: list[str] = []
    require_cluster_label: bool = True
    """With a cluster name configured (EXECUTOR_CLUSTER_NAME), refuse alerts that carry no
    `cluster` label: several clusters' Alertmanagers may feed one loop, and an unlabelled alert
    says nothing about which cluster it saw. Off only where one cluster's alerts arrive."""

    @model_validator(mode="before")
    @classmethod
    def _fill_actions(cls, data: Any) -> Any:
        """Every action type gets its defaults; the file only says what it changes."""
        if not isinstance(data, dict):
            return data
        if data.get("mode") is False:  # YAML 1.1 reads a bare `mode: off` as false
            data = {**data, "mode": "off"}
        spaces = data.get("namespaces")
        if isinstance(spaces, dict) and isinstance(spaces.get("levels"), dict):
            levels = {k: "off" if v is False else v for k, v in spaces["levels"].items()}
            data = {**data, "namespaces": {**spaces, "levels": levels}}
        given = data.get("actions") or {}
        if not isinstance(given, dict):
            return data
        merged: dict[str, Any] = {k: v for k, v in given.items() if k not in ACTION_SPECS}
        # ^ unknown action types fail as keys of `actions`, where the error names their line
        for name, spec in ACTION_SPECS.items():
            base: dict[str, Any] = {"allowed": True, "risk": spec.default_risk,
                                    "auto_approve": name in AUTO_BY_DEFAULT}
            override = given.get(name) or {}
            if isinstance(override, ActionPolicy):
                override = override.model_dump()
            if not isinstance(override, dict):
                raise ValueError(f"actions.{name} must be a mapping")
            merged[name] = {**base, **override}
        return {**data, "actions": merged}

    @property
    def level(self) -> Level:
        """The cluster default as a level (the old modes read as their aliases)."""
        return as_level(self.mode)

    def namespace_level(self, namespace: str | None) -> Level:
        return namespace_level(self.mode, self.namespaces.levels, namespace)[0]

    def writes_anywhere(self) -> bool:
        """False when every scope is at `observe` or stricter: shadow mode, read-only RBAC."""
        return any(LEVELS.index(as_level(m)) > LEVELS.index("observe")
                   for m in (self.mode, *self.namespaces.levels.values()))

    def action(self, action_type: str) -> ActionPolicy:
        return self.actions[action_type]  # type: ignore[index]

    def needs_human(self, action_type: str) -> str | None:
        """Why this action type needs a human approval, or None when it may run alone."""
        rule = self.action(action_type)
        if not rule.auto_approve:
            return f"{action_type} is not auto-approved by policy (risk {rule.risk})"
        if RISK_ORDER[rule.risk] > RISK_ORDER[self.auto_approve_max_risk]:
            return (f"{action_type} is rated {rule.risk}, above the auto-approval limit "
                    f"{self.auto_approve_max_risk}")
        return None

    def approver_allowed(self, approver: str) -> bool:
        wanted = approver.strip().casefold()
        return bool(wanted) and any(a.strip().casefold() == wanted for a in self.approvers)


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    """The policy in `text`; PolicyError naming the line of each mistake (`source:LINE: …`)."""
    import yaml  # only with a policy file: the default policy needs no parser at start-up

    try:
        doc = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as e:
        raise PolicyError(f"{source}: not valid YAML: {e}") from e
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise PolicyError(f"{source}:1: the policy must be a mapping")
    try:
        return Policy.model_validate(doc)
    except ValidationError as e:
        errors = e.errors()
        bad_keys = {err["loc"][:2] for err in errors if err["loc"][2:3] == ("[key]",)}
        # An unknown action type's own fields are not worth a second error.
        errors = [err for err in errors
                  if err["loc"][:2] not in bad_keys or err["loc"][2:3] == ("[key]",)]
        raise PolicyError("; ".join(_describe(source, tree, err) for err in errors[:5])) from e


def _describe(source: str, tree: yaml.Node | None, err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "(policy)"
    return f"{source}:{_line(tree, err['loc'])}: {where}: {err['msg']}"


def _line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the deepest YAML node the error's location reaches."""
    import yaml  # loaded already: `tree` came from `parse_policy`

    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_policy(path: Path | None) -> Policy:
    """The policy in `path`, or the built-in default when no file is configured."""
    if path is None:
        return Policy()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"cannot read policy file {path}: {e.strerror}") from e
    return parse_policy(text, source=str(path))
