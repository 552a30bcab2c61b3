"""What importing a function costs: only what its first answer needs (cold start is a feature).

Each check runs in a fresh interpreter, importing the function's `main.py` the way
functions-framework does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from orchestrator.context import ClusterContext, ObjectRef
from orchestrator.events import (
    CONTEXT_ENRICHED,
    PLAN_PROPOSED,
    Alert,
    ContextEnriched,
    PlanProposed,
)
from orchestrator.plan import Action, Citation, Plan
from tests import keys
from tests.fakes.sink import Sink

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ["ingest", "router", "agent", "executor", "console"]

IMPORT_MAIN = """
import gc, json, sys, importlib.util
import functions_framework
spec = importlib.util.spec_from_file_location("main", "functions/{function}/main.py")
main = importlib.util.module_from_spec(spec)
spec.loader.exec_module(main)
"""


def run(function: str, script: str, env: dict[str, str] | None = None) -> Any:
    code = IMPORT_MAIN.format(function=function) + script
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


ALERT = Alert(status="firing", labels={"alertname": "KubePodCrashLooping", "namespace": "shop",
                                       "pod": "web-1"},
              starts_at=datetime(2026, 1, 1, tzinfo=UTC), fingerprint="f1")


def loaded_after_first_event(function: str, tmp_path: Path, type_: str, producer: str,
                             data: Any, modules: tuple[str, ...], env: dict[str, str]) -> Any:
    """Which of `modules` a fresh `function` has loaded once it answered one signed event 200."""
    headers, body = to_binary(CloudEvent({"type": type_, "id": "e-1", "subject": "k",
                                          "source": f"/orchestrator/{producer}",
                                          "incidentkey": "k"}, data.model_dump(mode="json")))
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"headers": keys.seal(headers, body), "body": body.decode()}))
    return run(function, f"""
req = json.load(open({str(request)!r}))
app = functions_framework.create_app("handle", "functions/{function}/main.py")
r = app.test_client().post("/", headers=req["headers"], data=req["body"].encode())
assert r.status_code == 200, r.data
print(json.dumps(sorted(m for m in {list(modules)!r} if m in sys.modules)))
""", env)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_importing_a_function_builds_no_payload_validator(function: str) -> None:
    # Settings are read by the first request anyway; the policy's defaults are instances made
    # at class definition. Every other model builds its validator when first used.
    built = run(function, """
from pydantic import BaseModel
def walk(c):
    for s in c.__subclasses__():
        yield s
        yield from walk(s)
print(json.dumps(sorted({f"{c.__module__}.{c.__qualname__}" for c in walk(BaseModel)
                         if c.__module__.startswith("orchestrator") and c.__pydantic_complete__
                         and not c.__module__.startswith(("orchestrator.settings.",
                                                          "orchestrator.act.policy"))})))
""")
    assert built == []


def test_a_console_woken_by_an_event_loads_no_page_api_sweep_or_dead_letter_code() -> None:
    loaded = run("console", """
print(json.dumps(sorted(m for m in ("orchestrator.console.api", "orchestrator.console.web",
                                    "orchestrator.console.pages", "orchestrator.console.sweep",
                                    "orchestrator.console.deadletters",
                                    "orchestrator.console.request") if m in sys.modules)))
""")
    assert loaded == []


def test_a_console_loads_the_context_and_plan_models_only_for_events_that_carry_them() -> None:
    loaded = run("console", """
print(json.dumps(sorted(m for m in ("orchestrator.context", "orchestrator.plan",
                                    "orchestrator.payloads") if m in sys.modules)))
""")
    assert loaded == []


def test_an_ingest_woken_by_an_alert_loads_no_context_or_plan_model(sink: Sink) -> None:
    # Ingest emits alerts only: the payloads carrying a context or a plan load where first used.
    loaded = run("ingest", """
body = open("tests/events/alertmanager_crashloop.json", "rb").read()
app = functions_framework.create_app("handle", "functions/ingest/main.py")
r = app.test_client().post("/", data=body, headers={"Authorization": "Bearer t",
                                                    "Content-Type": "application/json"})
assert r.status_code == 200, r.data
print(json.dumps(sorted(m for m in ("orchestrator.context", "orchestrator.plan",
                                    "orchestrator.payloads") if m in sys.modules)))
""", env={"INGEST_TOKEN": "t", "K_SINK": sink.url})
    assert loaded == []
    assert len(sink.wait_for(1)) == 1


def test_an_agent_without_a_model_plans_without_loading_the_llm_code(tmp_path: Path) -> None:
    # No key: the offline planner plans; the LLM planner, its guards and adapters stay unloaded.
    data = ContextEnriched(incident_key="k", alert=ALERT, context=ClusterContext())
    loaded = loaded_after_first_event(
        "agent", tmp_path, CONTEXT_ENRICHED, "router", data,
        ("orchestrator.decide.gemini", "orchestrator.decide.guarded", "orchestrator.decide.claim",
         "orchestrator.decide.token_budget", "orchestrator.adapters.llm",
         "orchestrator.adapters.llm_openai"),
        {"KB_QDRANT_PATH": str(tmp_path / "qdrant"), "AGENT_AUDIT_DIR": str(tmp_path / "audit")})
    assert loaded == []


def test_an_agent_whose_alert_names_a_runbook_loads_no_search_code(tmp_path: Path) -> None:
    # An exact alertname match needs the raw runbooks only: BM25, name and coverage scoring and
    # the vector store adapter load with the first alert no runbook names. The packaged
    # runbooks' front matter comes parsed (front-matter.json): no YAML parser either.
    data = ContextEnriched(incident_key="k", alert=ALERT, context=ClusterContext())
    loaded = loaded_after_first_event(
        "agent", tmp_path, CONTEXT_ENRICHED, "router", data,
        ("orchestrator.knowledge.search", "orchestrator.knowledge.sparse",
         "orchestrator.knowledge.names", "orchestrator.knowledge.coverage",
         "orchestrator.adapters.vectors", "yaml"),
        {"KB_QDRANT_PATH": str(tmp_path / "qdrant"), "AGENT_AUDIT_DIR": str(tmp_path / "audit")})
    assert loaded == []


def test_an_agent_whose_alert_names_a_packaged_runbook_loads_no_promql_checker(
        tmp_path: Path) -> None:
    # The packaged runbooks' PromQL verdicts come with their front matter (front-matter.json):
    # the checker (and the regular expressions it compiles) loads for other runbooks only.
    data = ContextEnriched(incident_key="k", alert=ALERT, context=ClusterContext())
    loaded = loaded_after_first_event(
        "agent", tmp_path, CONTEXT_ENRICHED, "router", data, ("orchestrator.knowledge.promql",),
        {"KB_QDRANT_PATH": str(tmp_path / "qdrant"), "AGENT_AUDIT_DIR": str(tmp_path / "audit")})
    assert loaded == []


def test_an_agent_reads_its_settings_without_pydantic_settings(tmp_path: Path) -> None:
    # Its settings and the knowledge base's are `LeanSettings`: importing pydantic-settings
    # (and the asyncio and dotenv it pulls in) was more than a tenth of the agent's cold start.
    data = ContextEnriched(incident_key="k", alert=ALERT, context=ClusterContext())
    loaded = loaded_after_first_event(
        "agent", tmp_path, CONTEXT_ENRICHED, "router", data, ("pydantic_settings", "dotenv"),
        {"KB_QDRANT_PATH": str(tmp_path / "qdrant"), "AGENT_AUDIT_DIR": str(tmp_path / "audit")})
    assert loaded == []


def test_an_agent_on_a_qdrant_server_never_looks_up_a_local_data_folder(tmp_path: Path) -> None:
    # As the chart deploys it: a Qdrant URL and no local path. The per-user data folder (and
    # platformdirs, which finds it) is for a local store only, looked up when one is opened.
    data = ContextEnriched(incident_key="k", alert=ALERT, context=ClusterContext())
    loaded = loaded_after_first_event(
        "agent", tmp_path, CONTEXT_ENRICHED, "router", data, ("platformdirs",),
        {"KB_QDRANT_URL": "http://127.0.0.1:9", "AGENT_AUDIT_DIR": str(tmp_path / "audit")})
    assert loaded == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_what_start_up_made_is_left_out_of_collections(function: str) -> None:
    at_import, first, second = run(function, """
at_import = gc.get_freeze_count()
from orchestrator.lifecycle import Lazy
class Service:
    def close(self) -> None: ...
made = [[] for _ in range(1000)]  # tracked objects made after start-up
before = gc.get_freeze_count()
Lazy(Service)()
first = gc.get_freeze_count() - before
made += [[] for _ in range(1000)]
before = gc.get_freeze_count()
Lazy(Service)()
print(json.dumps([at_import, first, gc.get_freeze_count() - before]))
""")
    assert at_import > 10_000, "the framework's objects are frozen before the function imports"
    assert first > 0, "the first service built freezes what start-up made"
    assert second == 0, "only the first: later builds (tests) leave their garbage collectable"


def test_an_executor_without_a_policy_file_loads_no_yaml_parser(tmp_path: Path) -> None:
    # The default policy needs no parser: PyYAML loads only with a policy file or a runbook read.
    plan = Plan(plan_id="p", incident_key="k", fingerprint="f1", hypothesis="crash loop",
                confidence=0.6, citations=[Citation(runbook="k8s_crashloop")], model="offline",
                actions=[Action(type="delete_pod",
                                target=ObjectRef(kind="Pod", namespace="shop", name="web-1"))],
                created_at=datetime.now(UTC))
    loaded = loaded_after_first_event(
        "executor", tmp_path, PLAN_PROPOSED, "agent",
        PlanProposed(incident_key="k", alert=ALERT, plan=plan), ("yaml",),
        {"KUBECONFIG": str(tmp_path / "no-kubeconfig")})
    assert loaded == []
