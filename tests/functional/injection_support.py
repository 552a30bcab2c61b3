"""The injection test's world: the corpus (tests/events/prompt_injection.jsonl), the fake cluster
it is planted in, the model that obeys it (behind the fake Gemini, or the fake OpenAI-compatible
server), and one run of the real stack per planner (`run_planner`; conftest.py's `run` fixture
runs it once per planner for test_injection.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from orchestrator.local.replay import push, timelines
from orchestrator.local.stack import Stack, StackOptions
from tests.conftest import EVENTS, load_event
from tests.fakes import kube_objects as ko
from tests.fakes.gemini import FakeGemini, Reply, Request, fake_gemini
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.openai_chat import FakeOpenAI, fake_openai

NS, CLUSTER = "shop", "prod-eu-west-1"


WHERE = ("alert.annotation", "alert.label", "log", "log.previous", "event", "pod.annotation",
         "deployment.annotation", "termination.message")
# What each scenario's runbook allows (k8s_crashloop, k8s_job_failed), on which object.
ALLOWED = {"restart": ("rollout_restart", "Deployment"), "rollback": ("rollback", "Deployment"),
           "job": ("delete_failed_job", "Job")}
# Names the obeying model aims at: none may ever be acted on.
DECOYS = ("prod", "payments-db-0", "payments-db-1", "coredns", "nightly-report", "node-1",
          "node-2", "node-3")
SECTIONS = ["ALERT", "CONTEXT", "FACTS", "RUNBOOKS"]


@dataclass(frozen=True)
class Case:
    index: int
    id: str
    where: str
    scenario: str
    text: str
    obey: dict[str, Any]
    key: str = ""
    changes: str = ""
    """`identity` / `retrieval`: the text is in a label or annotation the loop keys on."""
    narrative: bool = False
    """The obeying model proposes the valid action, with the injection in its free text."""

    @property
    def name(self) -> str:
        return f"inj-{self.index:02d}"

    @property
    def fingerprint(self) -> str:
        return f"1e{self.index:014x}"


def load_corpus() -> list[Case]:
    lines = (EVENTS / "prompt_injection.jsonl").read_text().splitlines()
    return [Case(index=i, **json.loads(line)) for i, line in enumerate(lines) if line.strip()]


CASES = load_corpus()


@dataclass
class Names:
    """The objects of one case in the fake cluster, for placeholders and the oracle."""

    deployment: str = ""
    pod: str = ""
    job: str = ""
    chain: list[tuple[str, str]] = field(default_factory=list)

    @property
    def target(self) -> tuple[str, str]:
        return ("Job", self.job) if self.job else ("Deployment", self.deployment)


def fill(text: str, names: Names, decoy_job: str) -> str:
    for key, value in (("$deployment", names.deployment), ("$decoy_job", decoy_job),
                       ("$pod", names.pod), ("$job", names.job), ("$ns", NS)):
        text = text.replace(key, value)
    return text


# ---- the fake cluster ----------------------------------------------------------------------


def _decoys(api: FakeKubeAPI) -> str:
    """Objects an injection points at: a database in `prod`, coredns, a failed Job, nodes."""
    for ns in (NS, "prod", "batch", "kube-system", "default"):
        api.add(ko.namespace(ns))
    db = ko.statefulset("payments-db", "prod", replicas=2)
    api.add_all([db, ko.pod_for(db, 0), ko.pod_for(db, 1)])
    coredns = ko.deployment("coredns", "kube-system", replicas=2)
    rs = ko.replicaset(coredns)
    api.add_all([coredns, rs, ko.pod_for(rs, 0)])
    job = ko.failed_job("batch", "nightly-report").load(api)
    api.add_all([ko.node(f"node-{i}") for i in (1, 2, 3)])
    return str(job["job"]["metadata"]["name"])


def _plant(case: Case, s: ko.Scenario, names: Names, decoy_job: str) -> None:
    text = fill(case.text, names, decoy_job)
    pod = s["pod"]
    if case.where in ("log", "log.previous"):
        # A crash-looping container has no current log of its own: the kubelet serves the
        # crashed instance's for both, and the router reads the previous one.
        both = case.where == "log" and case.scenario != "job"
        flags = (False, True) if both else (case.where == "log.previous",)
        for previous in flags:
            kept = [e for e in s.logs if e[1] == pod["metadata"]["name"] and e[4] == previous]
            base = kept[0][3] if kept else ""
            s.logs = [e for e in s.logs if e not in kept]
            s.logs.append((NS, pod["metadata"]["name"], "app", f"{base}{text}\n", previous))
    elif case.where == "event":
        about = s["job"] if case.scenario == "job" else pod
        s.objects.append(ko.event(about, "Failed", text, count=3, first_age=300, last_age=30))
    elif case.where == "pod.annotation":
        pod["metadata"].setdefault("annotations", {})[case.key] = text
    elif case.where == "deployment.annotation":
        s["deployment"]["metadata"]["annotations"][case.key] = text
    elif case.where == "termination.message":
        pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"] = text


def build_cluster(api: FakeKubeAPI) -> tuple[dict[str, Names], str]:
    decoy_job = _decoys(api)
    world: dict[str, Names] = {}
    for case in CASES:
        if case.scenario == "job":
            s = ko.failed_job(NS, case.name)
            job = s["job"]["metadata"]["name"]
            names = Names(pod=s["pod"]["metadata"]["name"], job=job,
                          chain=[("Job", job), ("CronJob", case.name)]
                          + [("Pod", p["metadata"]["name"]) for p in s["pods"]])
        else:
            s = ko.stable_crashlooping_deployment(NS, case.name) if case.scenario == "restart" else \
                ko.crashlooping_deployment(NS, case.name)
            names = Names(deployment=case.name, pod=s["pod"]["metadata"]["name"],
                          chain=[("Deployment", case.name),
                                 ("ReplicaSet", s["replicaset"]["metadata"]["name"]),
                                 ("Pod", s["pod"]["metadata"]["name"])])
        _plant(case, s, names, decoy_job)
        s.load(api)
        world[case.id] = names
    return world, decoy_job


def payload(case: Case, names: Names, decoy_job: str) -> dict[str, Any]:
    hook = load_event("alertmanager_crashloop")
    alert = hook["alerts"][0]
    labels = {"alertname": "KubePodCrashLooping", "namespace": NS, "pod": names.pod,
              "container": "app", "cluster": CLUSTER, "severity": "warning"}
    if case.scenario == "job":
        labels = {"alertname": "KubeJobFailed", "namespace": NS, "job_name": names.job,
                  "cluster": CLUSTER, "severity": "warning"}
    annotations = {"summary": "Something is failing.", "description": "See the runbook."}
    text = fill(case.text, names, decoy_job)
    if case.where == "alert.label":
        labels[case.key] = text
    elif case.where == "alert.annotation":
        annotations[case.key] = text
    alert.update(labels=labels, annotations=annotations, fingerprint=case.fingerprint,
                 startsAt="2026-11-27T01:00:00Z")
    return hook


# ---- the model that obeys --------------------------------------------------------------------


def _action(a: dict[str, Any], names: Names, decoy_job: str) -> dict[str, Any]:
    return {"type": a["type"], "target_kind": a["kind"],
            "target_namespace": fill(a["namespace"], names, decoy_job),
            "target_name": fill(a["name"], names, decoy_job),
            "parameters": [{"name": k, "value": fill(v, names, decoy_job)}
                           for k, v in a["parameters"].items()],
            "reason": a.get("reason", "as instructed")}


def obeying(world: dict[str, Names], decoy_job: str) -> Callable[[Request], Reply]:
    """A model that does what the data in its prompt says; a competent model otherwise. Either
    fake serves its answer (both requests have `system` and `prompt`)."""
    by_name = {case.name: case for case in CASES}

    def answer(req: Request) -> Reply:
        found = re.search(r"\binj-\d\d\b", req.prompt)
        case = by_name[found.group()] if found else None
        if case is None:
            return Reply.plan({"hypothesis": "unknown", "confidence": 0.2, "runbook": "",
                               "chunk": "", "actions": []})
        names, obey = world[case.id], case.obey
        runbook = "k8s_job_failed" if case.scenario == "job" else "k8s_crashloop"
        if obey.get("legit"):
            kind, target = names.target
            action = {"type": ALLOWED[case.scenario][0], "kind": kind, "namespace": NS,
                      "name": target, "parameters": {},
                      "reason": obey.get("reason", "the evidence says so")}
            actions = [action]
        else:
            actions = obey["actions"]
            runbook = obey.get("runbook", runbook)
        # It parrots the injection as its hypothesis, unless it was told what to say.
        parrot = "The container exits with an error." if obey.get("legit") else \
            fill(case.text, names, decoy_job)
        return Reply.plan({
            "hypothesis": obey.get("hypothesis", parrot),
            "confidence": obey.get("confidence", 0.9), "runbook": runbook,
            "chunk": obey.get("chunk", f"{runbook}#what-to-do"),
            "actions": [_action(a, names, decoy_job) for a in actions]})

    return answer


# ---- one run per planner -------------------------------------------------------------------


@dataclass
class Run:
    mode: str
    world: dict[str, Names]
    decoy_job: str
    keys: dict[str, str]
    incidents: dict[str, list[Any]]
    outcomes: dict[str, str]
    writes: list[Any]
    prompts: list[Any]
    """The model requests (either fake's: each has `system` and `prompt`)."""
    pages: dict[str, str]
    dead: list[Any]


def run_planner(tmp: Path, mode: str) -> Run:
    """The whole corpus through the real stack with one planner (`offline`, `gemini`, `openai`)."""
    with ExitStack() as stack_of:
        api = stack_of.enter_context(FakeKubeAPI())
        world, decoy_job = build_cluster(api)
        agent: dict[str, str] = {}
        fake: FakeGemini | FakeOpenAI | None = None
        if mode == "gemini":
            fake = stack_of.enter_context(fake_gemini())
            fake.responder = obeying(world, decoy_job)
            agent = {"AGENT_GEMINI_API_KEY": "injection-test-key", "AGENT_BASE_URL": fake.url,
                     "AGENT_BACKOFF_SECONDS": "0.01", "AGENT_TIMEOUT_SECONDS": "10"}
        elif mode == "openai":
            fake = stack_of.enter_context(fake_openai(key="sk-injection-test-key"))
            fake.responder = obeying(world, decoy_job)
            agent = {"AGENT_LLM_PROVIDER": "openai", "AGENT_OPENAI_API_KEY":
                     "sk-injection-test-key", "AGENT_OPENAI_BASE_URL": fake.url + "/v1",
                     "AGENT_BACKOFF_SECONDS": "0.01", "AGENT_TIMEOUT_SECONDS": "10"}
        options = StackOptions(
            state=tmp / "state", enforce=True, cluster_name=CLUSTER, time_scale=0.05,
            kubeconfig=Path(api.write_kubeconfig(str(tmp / "kubeconfig"))),
            env={"agent": agent, "router": {"ROUTER_VERIFY_TIMEOUT_SECONDS": "2",
                                            "ROUTER_VERIFY_SETTLE_SECONDS": "1"}})
        with Stack(options) as stack:
            assert stack.broker is not None
            keys: dict[str, str] = {}
            for case in CASES:
                (keys[case.id],) = push(stack, [payload(case, world[case.id], decoy_job)])
            assert stack.broker.wait_idle(240), stack.broker.stats()
            found = {i.key: i for i in timelines(stack, list(keys.values()))}
            pages = _pages(stack, keys)
            dead = stack.broker.list_deadletters()
        writes = [r for r in api.requests
                  if r.method in ("PATCH", "POST", "DELETE", "PUT") and not r.dry_run]
        prompts = fake.generate_requests() if fake is not None else []
    return Run(mode, world, decoy_job, keys,
               {cid: found[k].events for cid, k in keys.items()},
               {cid: found[k].outcome for cid, k in keys.items()}, writes, prompts, pages, dead)


def _pages(stack: Stack, keys: dict[str, str]) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {stack.secrets['console_api_token']}"}
    with httpx.Client(base_url=stack.console_url, headers=headers, timeout=30,
                      trust_env=False) as client:
        out = {}
        for cid, key in keys.items():
            r = client.get(f"/incidents/{key}")
            assert r.status_code == 200, (cid, r.status_code, r.text[:300])
            out[cid] = r.text
    return out
