"""Secret canaries through the whole loop: fabricated credentials planted in pod logs (current
and previous), literal env values, pod and Deployment annotations, a termination message, Event
messages and the alert's own labels and annotations never come out anywhere the loop writes:
not in a CloudEvent on the broker, not in a prompt, not in a function's log file, not in the
audit log.

Run twice through the real stack in enforce mode against the fake Kubernetes API: with the
offline planner, and with the fake Gemini (whose request log is every prompt the agent sent).
The test also proves the canaries were really read and redacted (the context records a
redaction per place), so a run that never saw them cannot pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.local.replay import push
from orchestrator.local.stack import Stack, StackOptions
from tests.conftest import load_event
from tests.fakes import kube_objects as ko
from tests.fakes.gemini import FakeGemini, Reply, Request, fake_gemini
from tests.fakes.kube_api import FakeKubeAPI
from tests.unit.secret_canaries_support import CANARIES

pytestmark = pytest.mark.slow
NS = "vault"
CLUSTER = "prod-eu-west-1"
TEXTS = [text for _, text, _ in CANARIES]
# Secrets in the alert's own labels (label → value, the secret in it): ingest redacts them.
LABELS = {"instance": ("https://exporter:CanaryLabelUrlPw0rd@pg.vault.svc:9187/metrics",
                       "CanaryLabelUrlPw0rd"),
          "db_password": ("CanaryLabelDbPassw0rd", "CanaryLabelDbPassw0rd")}
SECRETS = [secret for _, _, secret in CANARIES] + [secret for _, secret in LABELS.values()]


def _forms(secret: str) -> set[str]:
    """How a secret could appear in a file: as is, JSON-escaped, and (when long) its head, so a
    secret cut in half by a length limit is still caught."""
    forms = {secret, json.dumps(secret)[1:-1]}
    if len(secret) >= 20:
        forms.add(secret[:16])
    return {f for f in forms if f}


FORMS = {secret: _forms(secret) for secret in SECRETS}


def _leaks(text: str) -> list[str]:
    return sorted({s for s, forms in FORMS.items() if any(f in text for f in forms)})


def _planted(s: ko.Scenario, tag: str) -> ko.Scenario:
    """One crash-looping Deployment with every canary in every place the router reads."""
    notes = {f"example.com/note-{i}": text for i, text in enumerate(TEXTS)}
    env = [{"name": f"SETTING_{i}", "value": text} for i, text in enumerate(TEXTS)]
    applied = json.dumps({"spec": {"template": {"spec": {"containers": [{"env": env}]}}}})
    d, pod = s["deployment"], s["pod"]
    d["metadata"]["annotations"].update(notes)
    d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = applied
    for obj in (d["spec"]["template"], pod):
        obj["spec"]["containers"][0]["env"] = env
    pod["metadata"].setdefault("annotations", {}).update(notes)
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    last["message"] = "\n".join(TEXTS[:6])
    log = "\n".join(f"2026-11-27T01:00:{i % 60:02d}Z ERROR {text}" for i, text in enumerate(TEXTS))
    s.logs = [(NS, pod["metadata"]["name"], "app", f"{log}\nKeyError: '{tag}'\n", previous)
              for previous in (False, True)]
    s.objects += [ko.event(pod, "Failed", text, count=1, first_age=600 - i, last_age=60 + i,
                           field_path="spec.containers{app}") for i, text in enumerate(TEXTS)]
    return s


def _alert(pod: str, fingerprint: str, *, status: str = "firing") -> dict[str, Any]:
    payload = load_event("alertmanager_crashloop")
    alert = payload["alerts"][0]
    alert["labels"].update(namespace=NS, pod=pod, container="app", cluster=CLUSTER,
                           **{name: value for name, (value, _) in LABELS.items()})
    alert["annotations"] = {"description": "\n".join(TEXTS[:10]),
                            **{f"detail_{i}": text for i, text in enumerate(TEXTS)}}
    alert["generatorURL"] = ("https://grafana:CanaryUrlPassw0rd@grafana.example.com/explore"
                             "?token=CanaryGenericApiKey0123")
    alert["fingerprint"] = fingerprint
    alert["startsAt"] = "2026-11-27T01:00:00Z"
    if status == "resolved":
        alert.update(status="resolved", endsAt="2026-11-27T01:30:00Z")
    return payload


def _answer(req: Request) -> Reply:
    """A competent model: the runbook's action for whichever workload the prompt is about."""
    if "ledger-restart" in req.prompt:
        action, name = "rollout_restart", "ledger-restart"
    else:
        action, name = "rollback", "ledger-rollback"
    return Reply.plan({
        "hypothesis": f"{name} exits with an application error on start.", "confidence": 0.8,
        "runbook": "k8s_crashloop", "chunk": "k8s_crashloop#what-to-do",
        "actions": [{"type": action, "target_kind": "Deployment", "target_namespace": NS,
                     "target_name": name, "parameters": [], "reason": "every replica exits"}]})


@dataclass
class Run:
    events: list[Any]
    prompts: list[Request]
    files: dict[Path, str]
    dead: list[Any]


def _run(tmp: Path, *, gemini: bool) -> Run:
    with ExitStack() as stack_of:
        api = stack_of.enter_context(FakeKubeAPI())
        fake: FakeGemini | None = None
        agent_env: dict[str, str] = {}
        if gemini:
            fake = stack_of.enter_context(fake_gemini())
            fake.responder = _answer
            agent_env = {"AGENT_GEMINI_API_KEY": "canary-test-key", "AGENT_BASE_URL": fake.url,
                         "AGENT_BACKOFF_SECONDS": "0.01", "AGENT_TIMEOUT_SECONDS": "10"}
        restart = _planted(ko.stable_crashlooping_deployment(NS, "ledger-restart"), "restart").load(api)
        rollback = _planted(ko.crashlooping_deployment(NS, "ledger-rollback"), "rollback")
        rollback.load(api)
        options = StackOptions(
            state=tmp / "state", enforce=True, cluster_name=CLUSTER, time_scale=0.05,
            kubeconfig=Path(api.write_kubeconfig(str(tmp / "kubeconfig"))),
            env={"agent": agent_env,
                 "router": {"ROUTER_VERIFY_TIMEOUT_SECONDS": "2",
                            "ROUTER_VERIFY_SETTLE_SECONDS": "1",
                            # Room for every canary, so each is redacted rather than cut.
                            "ROUTER_MAX_EVENTS": "80", "ROUTER_LOG_TAIL_LINES": "200",
                            "ROUTER_MAX_EVENT_BYTES": str(256 * 1024)}})
        payloads = [_alert(restart["pod"]["metadata"]["name"], "c0ffee0000000001"),
                    _alert(rollback["pod"]["metadata"]["name"], "c0ffee0000000002"),
                    _alert(rollback["pod"]["metadata"]["name"], "c0ffee0000000003",
                           status="resolved")]
        with Stack(options) as stack:
            assert stack.broker is not None
            push(stack, payloads)
            assert stack.broker.wait_idle(120), stack.broker.stats()
            events = stack.broker.events()
            dead = stack.broker.list_deadletters()
        state = options.state
        files = {p: p.read_text(errors="replace") for p in _files(state)}
        prompts = list(fake.requests) if fake is not None else []
    return Run(events, prompts, files, dead)


def _files(state: Path) -> Iterator[Path]:
    yield from sorted((state / "logs").glob("*.log"))
    yield from sorted(p for p in (state / "audit").rglob("*") if p.is_file())


@pytest.fixture(scope="module", params=["offline", "gemini"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp(request.param), gemini=request.param == "gemini")


def _types(run: Run) -> list[str]:
    return [e.attributes["type"] for e in run.events]


def test_the_loop_ran_past_the_router(run: Run) -> None:
    types = _types(run)
    assert run.dead == [], [(d.trigger, d.reason) for d in run.dead]
    for wanted in ("incident.context.enriched", "incident.plan.proposed",
                   "incident.approval.requested", "incident.action.completed",
                   "incident.resolved"):
        assert wanted in types, (wanted, types)


def test_the_canaries_were_read_and_redacted_in_every_place(run: Run) -> None:
    contexts = [e.data for e in run.events
                if e.attributes["type"] == "incident.context.enriched"]
    assert len(contexts) == 2
    for data in contexts:
        ctx = data["context"]
        records = " | ".join(ctx["redactions"])
        for place in ("logs of", "(previous)", "events of", "annotations", "last state"):
            assert place in records, (place, records)
        assert not ctx["cut"], ctx["cut"]
        text = json.dumps(ctx)
        assert text.count("[REDACTED:") >= 4 * len(CANARIES), text.count("[REDACTED:")
        # Env vars are named, never valued; the last-applied annotation is not carried at all.
        env = ctx["pods"][0]["containers"][0]["env"]
        assert {e["name"] for e in env} == {f"SETTING_{i}" for i in range(len(TEXTS))}
        assert {e["source"] for e in env} == {"literal"}
        assert all("value" not in e for e in env)
        assert "last-applied-configuration" not in text
    received = [e.data["alert"] for e in run.events
                if e.attributes["type"] == "incident.alert.received"]
    assert len(received) == 3
    for alert in received:
        assert "[REDACTED:" in alert["annotations"]["description"]
        assert "[REDACTED:" in alert["generator_url"]
        assert alert["labels"]["instance"].startswith("https://exporter:[REDACTED:url-password]@")
        assert alert["labels"]["db_password"] == "[REDACTED:secret-value]"
        assert (alert["labels"]["namespace"], alert["labels"]["cluster"]) == (NS, CLUSTER)


def test_no_canary_in_any_cloudevent(run: Run) -> None:
    """Every event the broker carried, ingest's included: ingest redacts the alert's own
    annotations at the edge, so not even the broker's log holds them."""
    for e in run.events:
        text = json.dumps(e.attributes) + e.body.decode("utf-8", "replace")
        assert _leaks(text) == [], (e.attributes["type"], e.attributes["source"], _leaks(text))


def test_no_canary_in_any_prompt(run: Run) -> None:
    if not run.prompts:
        pytest.skip("the offline planner sends no prompt")
    generate = [r for r in run.prompts if r.path.endswith(":generateContent")]
    assert len(generate) >= 2  # one per firing incident
    for req in run.prompts:
        assert _leaks(req.raw) == [], (req.path, _leaks(req.raw))
    assert any("[REDACTED:" in r.prompt for r in generate)


def test_no_canary_in_logs_or_audit_records(run: Run) -> None:
    logs = [p for p in run.files if p.suffix == ".log"]
    audit = [p for p in run.files if "audit" in p.parts]
    assert {p.stem for p in logs} == {"ingest", "router", "agent", "executor", "console"}
    assert len(audit) >= 10, "the console wrote no audit log"
    leaked = {str(p): _leaks(text) for p, text in run.files.items() if _leaks(text)}
    assert leaked == {}
    # The log lines say a redaction happened (by count), never what was redacted.
    assert re.search(r"redacted \d+ secret", run.files[next(p for p in logs
                                                            if p.stem == "ingest")])
