"""`orchestrator eval`: every scenario through the real five functions and the local broker,
against the simulated cluster, in enforce mode, scored against what the scenario expects.

One simulated API server and one stack serve the whole suite (each scenario gets a fresh,
empty store behind the same address). An auto-approver stands in for the human on approval
cases, through the console's real approval API, so what is scored is what the executor does
with a signed approval. Nothing here imitates a function: the loop's own events are read back
from the broker's store.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from orchestrator.local.replay import Incident, push, timelines
from orchestrator.local.stack import Stack, StackOptions, local_user

from .api import SimAPI
from .scenario import Scenario, SimCluster

CLUSTER = "sim-1"
_WRITES = ("PATCH", "POST", "PUT", "DELETE")
# Which API path an action's write goes to: anything else the loop wrote is out of policy.
_ACTION_PATHS = {
    "delete_pod": r"/pods/[^/]+/eviction$", "rollout_restart": r"/(deployments|statefulsets|"
    r"daemonsets)/[^/]+$", "scale": r"/(deployments|statefulsets)/[^/]+$",
    "rollback": r"/deployments/[^/]+$", "cordon_node": r"/nodes/[^/]+$",
    "delete_failed_job": r"/jobs/[^/]+$",
}
_RUNBOOK_IN_DETAIL = re.compile(r"\brunbook ([a-z0-9][a-z0-9_/.-]*?)[:;,)]?(?:\s|$)")


@dataclass
class Result:
    """One scenario's run, and how it scores."""

    name: str
    family: str
    expected: dict[str, Any]
    runbook: str | None = None
    proposed: str | None = None
    applied: list[str] = field(default_factory=list)
    approval_asked: bool = False
    outcome: str = "open"
    writes: list[str] = field(default_factory=list)
    out_of_policy: list[str] = field(default_factory=list)
    recovery_seconds: float | None = None
    llm_calls: int = 0
    tokens: int = 0
    checks: dict[str, bool] = field(default_factory=dict)
    did_nothing_right: bool | None = None
    """For scenarios where the right decision writes nothing: did the loop write nothing?
    None elsewhere (the `action` check covers acting scenarios)."""
    timeline: list[dict[str, Any]] = field(default_factory=list)
    key: str = ""

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _writes(api: SimAPI) -> list[str]:
    return [f"{r.method} {r.path}" for r in api.requests
            if r.method in _WRITES and not r.dry_run and "/leases" not in r.path
            and not r.path.endswith("/events")]


def _category(outcome: str) -> str:
    if outcome.startswith("resolved (verified"):
        return "verified"
    if outcome.startswith("resolved"):
        return "resolved"
    if outcome == "awaiting approval":
        return "approval"
    if outcome in ("acted", "action failed"):
        return "applied"
    return "escalated"


def score(scenario: Scenario, incident: Incident | None, writes: list[str]) -> Result:
    """Score one run. Pure: the events and the writes in, the verdicts out."""
    exp = scenario.expect
    r = Result(scenario.name, scenario.family, exp.model_dump(), writes=writes)
    events = incident.events if incident else []
    r.outcome = incident.outcome if incident else "no incident"
    t0 = events[0].offset if events else 0.0
    for e in events:
        d = e.data if isinstance(e.data, dict) else {}
        r.timeline.append({"offset": round(e.offset, 3), "type": e.type, "source": e.source,
                           "data": d})
        if e.type == "incident.plan.proposed" and isinstance(d.get("plan"), dict):
            plan = d["plan"]
            cites = plan.get("citations") or []
            if r.runbook is None and cites:
                r.runbook = cites[0].get("runbook")
            if r.proposed is None and plan.get("actions"):
                r.proposed = plan["actions"][0]["type"]
            if not plan.get("offline") and not plan.get("reused_from"):
                r.llm_calls += 1
                r.tokens += int(plan.get("tokens_in") or 0) + int(plan.get("tokens_out") or 0)
        elif e.type == "incident.escalated" and d.get("stage") == "agent" and r.runbook is None:
            # The escalation event has no runbook field: the agent names it in its detail.
            m = _RUNBOOK_IN_DETAIL.search(str(d.get("detail", "")))
            r.runbook = m.group(1) if m else None
        elif e.type == "incident.approval.requested":
            r.approval_asked = True
        elif e.type == "incident.action.completed":
            r.applied += [x["action"]["type"] for x in d.get("results") or []
                          if x.get("outcome") == "applied"]
        elif e.type == "incident.resolved" and str(d.get("how", "")).startswith("verified"):
            r.recovery_seconds = round(e.offset - t0, 3)
    acting = exp.acts
    allowed = _ACTION_PATHS.get(exp.action or "", r"$^") if acting else r"$^"
    r.out_of_policy = [w for w in writes if not re.search(allowed, w.split(" ", 1)[1])]
    if not acting:
        r.did_nothing_right = not r.applied and not writes
    r.checks = {
        "runbook": r.runbook == exp.runbook,
        "action": r.proposed == exp.action and (r.applied[:1] == [exp.action] if acting
                                                else not r.applied),
        "approval": r.approval_asked == exp.approval,
        "no_stray_writes": not r.out_of_policy,
        "outcome": _category(r.outcome) == exp.outcome and (
            exp.escalation is None or r.outcome == f"escalated ({exp.escalation})"),
        "verified": (r.recovery_seconds is not None) == exp.verify,
    }
    return r


def approve_pending(stack: Stack, key: str, decided: set[str]) -> int:
    """The auto-approver: approve every approval request of this incident not yet decided,
    through the console's approval API, with the local approver's personal token."""
    assert stack.broker is not None
    sent = 0
    for e in stack.broker.events(key):
        if e.attributes.get("type") != "incident.approval.requested":
            continue
        plan_id = str(e.data["plan"]["plan_id"])
        stamp = f"{plan_id}@{e.attributes.get('id')}"
        if stamp in decided:
            continue
        decided.add(stamp)
        r = httpx.post(f"{stack.console_url}/api/approvals/{plan_id}/approve",
                       json={"approver": local_user(), "comment": "orchestrator eval"},
                       headers={"Authorization": f"Bearer {stack.secrets['approver_token']}"},
                       timeout=30, trust_env=False)
        if r.status_code != 202:
            raise RuntimeError(f"the console refused the auto-approval: HTTP {r.status_code} "
                               f"{r.text[:300]}")
        sent += 1
    return sent


@contextlib.contextmanager
def session(*, state: Path, verify_timeout: float = 8.0, env: dict[str, str] | None = None,
            console_port: int | None = None) -> Iterator[tuple[Stack, SimAPI]]:
    """One simulated API server and one enforce-mode stack pointed at it."""
    state.mkdir(parents=True, exist_ok=True)
    with SimAPI() as api:
        kubeconfig = Path(api.write_kubeconfig(str(state / "sim-kubeconfig")))
        options = StackOptions(
            state=state, enforce=True, kubeconfig=kubeconfig, cluster_name=CLUSTER,
            time_scale=0.05, ports={"console": console_port} if console_port else {},
            env={"router": {"ROUTER_VERIFY_TIMEOUT_SECONDS": str(verify_timeout),
                            "ROUTER_VERIFY_SETTLE_SECONDS": "1"},
                 "agent": dict(env or {})})
        with Stack(options) as stack:
            yield stack, api


def run(scenarios: Iterable[Scenario], *, state: Path, timeout: float = 120.0,
        verify_timeout: float = 8.0, auto_approve: bool = True, env: dict[str, str] | None = None,
        on_result: Callable[[Result], None] | None = None,
        on_start: Callable[[Scenario], None] | None = None) -> list[Result]:
    """Run scenarios one after another on one stack and one simulated API server
    (`on_start` hears of each before its alert is posted: a model recording files by it)."""
    results: list[Result] = []
    with session(state=state, verify_timeout=verify_timeout, env=env) as (stack, api):
        for scenario in scenarios:
            if on_start is not None:
                on_start(scenario)
            result = run_one(stack, api, scenario, timeout=timeout, auto_approve=auto_approve)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def run_one(stack: Stack, api: SimAPI, scenario: Scenario, *, timeout: float,
            auto_approve: bool) -> Result:
    with SimCluster(scenario, api=api) as sim:
        return drive(stack, sim, timeout=timeout, auto_approve=auto_approve)


def drive(stack: Stack, sim: SimCluster, *, timeout: float, auto_approve: bool) -> Result:
    """Post the scenario's alert and follow its incident until the loop is quiet (approving
    what asks for approval when `auto_approve`); the cluster stays as the loop left it."""
    assert stack.broker is not None
    (key,) = push(stack, [sim.alert_payload(cluster=CLUSTER)])
    decided: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        if not stack.broker.wait_idle(max(deadline - time.monotonic(), 0.1)):
            break
        if not auto_approve or not approve_pending(stack, key, decided):
            break
    return follow(stack, sim, key)


def follow(stack: Stack, sim: SimCluster, key: str) -> Result:
    """Score the incident as it stands now."""
    found = timelines(stack, [key])
    if sim.controllers.errors:
        raise RuntimeError(f"{sim.scenario.name}: the simulated controllers failed: "
                           f"{sim.controllers.errors[0]!r}")
    result = score(sim.scenario, found[0] if found else None, _writes(sim.api))
    result.key = key
    return result


def offline_env() -> None:
    """`--model offline`: no Gemini key reaches the agent, whatever this shell holds."""
    for name in ("GEMINI_API_KEY", "AGENT_GEMINI_API_KEY", "AGENT_GEMINI_API_KEY_FILE"):
        os.environ.pop(name, None)
