"""The fault catalogue, and how one case runs: inject the fault(s), send an alert as Alertmanager
would, heal each fault once it has bitten, wait until the system is whole again, and report one
row of the outcome table.

"Whole" means: every alert ingest accepted reached its final outcome (resolved or escalated),
the console's audit log holds every event of its incident, no dead letter is left unhandled, and
the broker has nothing in flight. Dead letters are redelivered once the broker is idle, as an
operator would (`orchestrator local deadletters --redeliver`). A fault the loop serves around
(a fallback) is healed only after the alert went all the way through it; a probe alert then
checks that full service is back.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.events import ESCALATED, PLAN_PROPOSED, RESOLVED
from orchestrator.local.replay import timelines
from tests.fakes.serving import wait_until
from tests.functional.fault_support import Rig, Sender, Workload

Step = Callable[[Rig, "Case"], None]
Check = Callable[[Rig, "Case"], bool]
WHOLE_TIMEOUT = 90.0
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Step
    bitten: Check
    """True once the fault has visibly hurt this case (then it is healed)."""
    heal: Step
    strike: Step | None = None
    """Run once bitten, before healing (a kill that must hit a request in flight)."""
    degraded: bool = False
    """Served around by a fallback: healed after the alert is through, then a probe."""
    expect: Callable[[Rig, Case], str | None] = lambda rig, case: None
    """What this fault must have caused, as a problem description when it did not."""
    needs_disk: bool = False


@dataclass
class Case:
    tag: str
    faults: tuple[Fault, ...]
    sent: list[tuple[Workload, Sender]] = field(default_factory=list)
    healed: dict[str, float] = field(default_factory=dict)
    redelivered: int = 0
    marks: dict[str, int] = field(default_factory=dict)

    @property
    def main(self) -> tuple[Workload, Sender]:
        return self.sent[-1]

    def incident_keys(self) -> list[str]:
        return [k for _, s in self.sent for k in s.keys]


@dataclass
class Row:
    fault: str
    outcome: str
    actions: str
    recovered: str
    ttr: float | None
    problems: list[str]

    def cells(self) -> list[str]:
        ttr = "n/a" if self.ttr is None else f"{self.ttr:.1f} s"
        return [self.fault, self.outcome, self.actions, self.recovered, ttr]


# -- the faults ------------------------------------------------------------------------------

def _lock_kb(rig: Rig, case: Case) -> None:
    if not rig.kb_lock.take():
        # The agent opened the store earlier: a fresh agent process has not, yet.
        rig.stack.kill("agent")
        rig.stack.restart("agent")
        assert rig.kb_lock.take(), "the knowledge base store is held by someone else"


def _fell_back_to_raw(rig: Rig, case: Case) -> str | None:
    key = case.main[1].keys[0]
    if any(m.startswith("runbook index unavailable") for m in rig.log_messages("agent", key)):
        return None
    return "the agent did not say it ranked the raw runbooks"


def _offline_plan(rig: Rig, case: Case) -> str | None:
    w, sender = case.main
    plan = plan_of(rig, sender.keys[0])
    if plan is None or not plan["offline"]:
        return f"expected the offline planner's plan, got {plan and plan['model']}"
    # AGENT_RETRIES=1 in the rig: one try and one retry, then the fallback.
    calls = rig.brain.calls(w.namespace)
    return None if calls == 2 else f"Gemini was asked {calls} time(s), expected 2"


def _gemini(mode: str, name: str) -> Fault:
    def inject(rig: Rig, case: Case) -> None:
        rig.brain.mode = mode

    return Fault(name, inject, lambda rig, case: whole(rig, case),
                 lambda rig, case: rig.brain.heal(), degraded=True, expect=_offline_plan)


def _kube(name: str, *, slow: bool, past_budget: bool = False) -> Fault:
    def inject(rig: Rig, case: Case) -> None:
        if slow:
            rig.api.delay(".", 3.0)
        else:
            rig.api.fail(None, ".", 500)

    def bitten(rig: Rig, case: Case) -> bool:
        keys = case.incident_keys()
        if past_budget:
            return any(rig.dead_letters(k) for k in keys)
        # Two failed deliveries: the broker had to retry.
        return any(rig.failed_deliveries("router", k) >= 2 for k in keys)

    def dead_lettered(rig: Rig, case: Case) -> str | None:
        letters = [d for k in case.incident_keys() for d in rig.dead_letters(k)]
        if not letters or not all("retries exhausted" in d.reason for d in letters):
            return f"expected dead letters saying why, got {[d.reason for d in letters]}"
        if any(d.sink_state != "sent" for d in letters):
            return f"dead letters not kept by the console: {[d.sink_state for d in letters]}"
        return None

    return Fault(name, inject, bitten, lambda rig, case: rig.api.clear_faults(),
                 expect=dead_lettered if past_budget else lambda rig, case: None)


def _fill_disk(rig: Rig, case: Case) -> None:
    assert rig.disk is not None
    # An alert accepted just before: its replies find the disk full mid-flight.
    early = rig.workload(case.tag + "-early")
    sender = rig.send(early)
    case.sent.append((early, sender))
    assert sender.accepted.wait(30), "the early alert was not accepted"
    case.marks["refused"] = rig.disk_errors.refused
    case.marks["stuck"] = rig.disk_errors.deliveries
    rig.disk.fill()


def _was_refused(rig: Rig, case: Case) -> str | None:
    if case.main[1].refused == 0:
        return "ingest never refused the alert (503 expected while the disk was full)"
    if rig.disk_errors.refused == case.marks["refused"]:
        return "the broker did not log why its ingress refused events"
    if rig.disk_errors.deliveries == case.marks["stuck"]:
        return "no delivery in flight met the full disk"
    return None


def _kill_agent(rig: Rig, case: Case) -> None:
    rig.stack.kill("agent")
    rig.brain.heal()


QDRANT = Fault("Qdrant unavailable (store held by another client)", _lock_kb,
               lambda rig, case: whole(rig, case), lambda rig, case: rig.kb_lock.release(),
               degraded=True, expect=_fell_back_to_raw)
MINIO = Fault("MinIO down (audit log)", lambda rig, case: rig.s3.stop(),
              lambda rig, case: bool(case.incident_keys()) and all(
                  settled(rig, k) and rig.failed_deliveries("console", k) >= 2
                  for k in case.incident_keys()),
              lambda rig, case: rig.s3.start())
GEMINI_429 = _gemini("429", "Gemini 429")
GEMINI_500 = _gemini("500", "Gemini 500")
GEMINI_HANG = _gemini("hang", "Gemini hanging")
KUBE_500 = _kube("Kubernetes API 500", slow=False)
KUBE_SLOW = _kube("Kubernetes API timing out", slow=True)
KUBE_500_LONG = _kube("Kubernetes API 500 past the retry budget", slow=False, past_budget=True)
DISK_FULL = Fault("broker disk full", _fill_disk,
                  lambda rig, case: case.main[1].refused >= 3
                  and rig.disk_errors.deliveries > case.marks["stuck"],
                  lambda rig, case: rig.disk.free() if rig.disk else None,
                  expect=_was_refused, needs_disk=True)
AGENT_KILLED = Fault("agent killed mid-request", lambda rig, case: setattr(rig.brain, "mode",
                                                                           "hang"),
                     lambda rig, case: rig.brain.calls(case.main[0].namespace) >= 1,
                     lambda rig, case: rig.stack.restart("agent"), strike=_kill_agent)

SINGLES = (QDRANT, MINIO, GEMINI_429, GEMINI_500, GEMINI_HANG, KUBE_500, KUBE_SLOW,
           KUBE_500_LONG, DISK_FULL, AGENT_KILLED)
# Pairs whose faults meet: both fallbacks at once; a blocked router and a failing model; a dead
# letter whose sink (the console, on MinIO) is down too; a full disk and a slow API; a killed
# agent behind a failing API. (With MinIO down the agent does not ask the model at all, so a
# kill while it waits on Gemini cannot pair with it.)
PAIRS = ((QDRANT, GEMINI_429), (GEMINI_500, KUBE_500), (MINIO, KUBE_500_LONG),
         (DISK_FULL, KUBE_SLOW), (AGENT_KILLED, KUBE_500))


# -- observing -------------------------------------------------------------------------------

def plan_of(rig: Rig, key: str) -> dict[str, Any] | None:
    found = [e.data["plan"] for e in rig.events(key) if e.attributes["type"] == PLAN_PROPOSED]
    return found[0] if found else None


def final(rig: Rig, key: str) -> bool:
    return any(e.attributes["type"] in (RESOLVED, ESCALATED) for e in rig.events(key))


def settled(rig: Rig, key: str) -> bool:
    """As far as the loop can take the alert now: a final outcome or a dead letter."""
    return final(rig, key) or bool(outstanding(rig, key))


def outstanding(rig: Rig, key: str) -> list[Any]:
    return [d for d in rig.dead_letters(key) if d.redeliveries == 0]


def whole(rig: Rig, case: Case) -> bool:
    assert rig.stack.broker is not None
    if not case.sent or not all(s.accepted.is_set() for _, s in case.sent):
        return False
    keys = case.incident_keys()
    if not all(final(rig, k) and not outstanding(rig, k) for k in keys):
        return False
    if not rig.stack.broker.wait_idle(0):
        return False
    return all(rig.audit_missing(k) == set() for k in keys)


# -- running ---------------------------------------------------------------------------------

def run_case(rig: Rig, faults: tuple[Fault, ...], tag: str) -> Row:
    """One case, start to whole; the row says what happened (problems: what should not have)."""
    case = Case(tag, faults)
    for fault in faults:
        fault.inject(rig, case)
    w = rig.workload(tag)
    case.sent.append((w, rig.send(w)))
    deadline = time.monotonic() + WHOLE_TIMEOUT

    def all_healed() -> bool:
        for fault in faults:
            if fault.name not in case.healed and fault.bitten(rig, case):
                if fault.strike is not None:
                    fault.strike(rig, case)
                fault.heal(rig, case)
                case.healed[fault.name] = time.monotonic()
        return len(case.healed) == len(faults)

    def whole_again() -> bool:
        if whole(rig, case):
            return True
        assert rig.stack.broker is not None
        if rig.stack.broker.wait_idle(0):
            for key in case.incident_keys():
                for letter in outstanding(rig, key):
                    rig.stack.broker.redeliver_deadletter(letter.id)
                    case.redelivered += 1
        return False

    # Polled finely (20 ms, 50 ms): the time to recovery in the table is measured by these polls.
    wait_until(all_healed, timeout=deadline - time.monotonic(), every=0.02,
               what=lambda: _stuck(rig, case, "the fault(s) to bite"))
    wait_until(whole_again, timeout=deadline - time.monotonic(), every=0.05,
               what=lambda: _stuck(rig, case, "the system to be whole"))
    done = time.monotonic()
    blocking = [case.healed[f.name] for f in faults if not f.degraded]
    ttr = max(0.0, done - max(blocking)) if blocking else 0.0
    problems = [p for f in faults if (p := f.expect(rig, case)) is not None]
    for key in case.incident_keys():
        decided = {e.attributes["type"] for e in rig.events(key)} & {PLAN_PROPOSED, ESCALATED}
        if not decided:
            problems.append(f"{key}: accepted, but neither planned nor escalated (lost)")
    recovered = "yes" + (f", after redelivering {case.redelivered} dead letter(s)"
                         if case.redelivered else "")
    if any(f.degraded for f in faults):
        probe_problem = _probe(rig, case, faults)
        if probe_problem:
            problems.append(probe_problem)
            recovered = "no: " + probe_problem
        else:
            recovered += "; the next alert got full service"
    return Row(fault=" + ".join(f.name for f in faults), outcome=describe(rig, case),
               actions=_actions(rig, case, problems), recovered=recovered, ttr=ttr,
               problems=problems)


def _stuck(rig: Rig, case: Case, what: str) -> str:
    """What a case was waiting for, and where its incidents stood, for a timed-out case."""
    state = {k: [e.attributes["type"] for e in rig.events(k)] for k in case.incident_keys()}
    letters = [f"{d.trigger}: {d.reason}" for k in case.incident_keys()
               for d in rig.dead_letters(k)]
    return (f"{what} ({case.tag}): {state}; dead letters {letters}; "
            f"broker {rig.stack.broker and rig.stack.broker.stats()}")


def _probe(rig: Rig, case: Case, faults: tuple[Fault, ...]) -> str | None:
    """A new alert after healing: planned by Gemini over the index, as before the fault."""
    probe = Case(case.tag + "-after", ())
    w = rig.workload(probe.tag)
    probe.sent.append((w, rig.send(w)))
    wait_until(lambda: whole(rig, probe), timeout=WHOLE_TIMEOUT, every=0.05,
               what=lambda: _stuck(rig, probe, "the probe alert"))
    key = probe.incident_keys()[0]
    plan = plan_of(rig, key)
    if plan is None or plan["offline"]:
        return "the alert after healing was not planned by Gemini"
    if any(f.name == QDRANT.name for f in faults):
        if any(m.startswith("runbook index unavailable") for m in rig.log_messages("agent", key)):
            return "the agent still ranked the raw runbooks after the store came back"
        if rig.kb_lock.take():
            rig.kb_lock.release()
            return "the agent did not open the store again"
    return None


def _actions(rig: Rig, case: Case, problems: list[str]) -> str:
    parts = []
    for w, _ in case.sent:
        writes = rig.writes(w.namespace)
        if len(writes) != 1:
            problems.append(f"{w.namespace}: {len(writes)} writes, expected exactly one")
        parts.append(f"{len(writes)}× " + ", ".join(
            sorted({f"{r.method} {'/'.join(r.path.split('/')[-2:])}" for r in writes})))
    return "; ".join(parts)


def describe(rig: Rig, case: Case) -> str:
    """Each accepted alert's path: dead letters, then the plan or escalation, then the end."""
    texts = []
    for key in case.incident_keys():
        steps = []
        for letter in rig.dead_letters(key):
            steps.append(f"dead letter at {letter.trigger} ({letter.reason[:70]})")
        if steps:
            steps.append("redelivered")
        plan = plan_of(rig, key)
        if plan is not None:
            acts = ", ".join(a["type"] for a in plan["actions"]) or "no action"
            by = f"offline planner: {_why_offline(rig, key)}" if plan["offline"] else plan["model"]
            raw = any(m.startswith("runbook index unavailable")
                      for m in rig.log_messages("agent", key))
            steps.append(f"plan {acts} ({by}{', raw runbooks' if raw else ''})")
        (incident,) = timelines(rig.stack, [key])
        steps.append(incident.outcome)
        texts.append(" → ".join(steps))
    return "; ".join(texts)


def _why_offline(rig: Rig, key: str) -> str:
    """The agent's own words for not using the model, shortened (display only)."""
    for message in rig.log_messages("agent", key):
        if message.startswith("Gemini unavailable"):
            found = re.search(r"HTTP \d+ \w+|\w*Timeout\w*|\w+Error", message)
            return f"Gemini failed ({found.group() if found else 'unavailable'})"
        if message.startswith("LLM not asked: "):
            return re.split(r"[,;(]| since ", message)[0]
    return "no model"


def markdown(rows: list[Row]) -> str:
    head = ["fault", "outcome (each accepted alert)", "actions (writes per workload)",
            "recovered", "time to recover"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r.cells()) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def save(rows: list[Row]) -> Path:
    """Merge these rows into artifacts/faults.json (one per case) and rewrite faults.md from it,
    in catalogue order, so the single-fault and the pair tests fill one table."""
    ARTIFACTS.mkdir(exist_ok=True)
    store = ARTIFACTS / "faults.json"
    known: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}
    known.update({r.fault: asdict(r) for r in rows})
    store.write_text(json.dumps(known, indent=1))
    order = [" + ".join(f.name for f in c) for c in [(f,) for f in SINGLES] + list(PAIRS)]
    table = [Row(**known[name]) for name in order if name in known]
    path = ARTIFACTS / "faults.md"
    path.write_text(markdown(table))
    return path
