"""Every variable the chart (or a func.yaml) sets on a function is a field of that function's
settings class (prefix + field name, or a validation alias) or a platform variable: a typo in
the chart would otherwise be ignored silently (the classes use extra="ignore")."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, BaseModel

from orchestrator.settings.common import is_secret
from tests.functional.helm_support import (
    FULLNAME,
    FUNCTIONS,
    ROOT,
    VALUE_SETS,
    render,
    render_values,
)

# Read by functions-framework, gunicorn, Python or Knative, not by our settings.
PLATFORM = {"FUNCTION_TARGET", "FUNCTION_SOURCE", "FUNCTION_SIGNATURE_TYPE", "PORT", "K_SINK",
            "HOME", "TMPDIR", "THREADS", "WORKERS"}
# function → settings classes (module, class) it reads.
SETTINGS = {
    "ingest": [("orchestrator.settings.ingest", "IngestSettings")],
    "router": [("orchestrator.settings.router", "RouterSettings")],
    "agent": [("orchestrator.settings.agent", "AgentSettings"),
              ("orchestrator.settings.knowledge", "KnowledgeSettings")],
    "executor": [("orchestrator.settings.executor", "ExecutorSettings")],
    "console": [("orchestrator.settings.console", "ConsoleSettings"),
                ("orchestrator.settings.knowledge", "KnowledgeSettings")],
    "index": [("orchestrator.settings.knowledge", "KnowledgeSettings")],
}


def env_names(cls: type[BaseModel]) -> set[str]:
    """The variable names `cls` reads (case-insensitive: upper-cased). pydantic-settings keeps
    the prefix in model_config; `LeanSettings` (ingest's, lighter to import) in a ClassVar."""
    lean = getattr(cls, "env_prefix", None)
    prefix = lean if isinstance(lean, str) else str(cls.model_config.get("env_prefix", ""))
    names = set()
    for field, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            read = [str(a).upper() for a in alias.choices]
        elif isinstance(alias, str):
            read = [alias.upper()]
        else:
            read = [f"{prefix}{field}".upper()]
        names |= set(read)
        if is_secret(info):  # the one rule for secrets in files (settings.common)
            names.add(f"{read[0]}_FILE")
    return names


# Every function reads the standard OpenTelemetry variables (`orchestrator.telemetry`).
SHARED = [("orchestrator.settings.telemetry", "TelemetrySettings")]


def known_names(fn: str) -> set[str]:
    names = set(PLATFORM)
    for module_name, class_name in SETTINGS[fn] + SHARED:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            pytest.skip(f"{module_name} does not exist yet")
        names |= env_names(getattr(module, class_name))
    return names


def chart_env(value_set: str, fn: str) -> list[dict[str, Any]]:
    rendered = render(value_set)
    if fn == "index":
        (job,) = rendered.of_kind("Job")
        return list(job["spec"]["template"]["spec"]["containers"][0]["env"])
    return list(rendered.container(fn)["env"])


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
@pytest.mark.parametrize("fn", [*FUNCTIONS, "index"])
def test_every_env_var_the_chart_sets_is_a_settings_field(value_set: str, fn: str) -> None:
    known = known_names(fn)
    unknown = sorted({e["name"] for e in chart_env(value_set, fn)} - known)
    assert not unknown, f"{fn}: no settings field reads {unknown}"


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_func_yaml_matches_the_chart(fn: str) -> None:
    doc = yaml.safe_load((ROOT / "functions" / fn / "func.yaml").read_text())
    rendered = render("default")
    container = rendered.container(fn)
    template = rendered.function(fn)["spec"]["template"]
    assert doc["name"] == f"orchestrator-{fn}", "the chart's name under release 'orchestrator'"
    assert f"{FULLNAME}-{fn}".replace("rel-", "") == doc["name"]
    assert doc["image"].rsplit(":", 1)[0] == container["image"].rsplit(":", 1)[0]
    envs = {e["name"]: e["value"] for e in doc["run"]["envs"]}
    assert envs["FUNCTION_SOURCE"] == rendered.env(fn)["FUNCTION_SOURCE"]
    assert envs["FUNCTION_TARGET"] == "handle"
    unknown = sorted(set(envs) - known_names(fn))
    assert not unknown, f"func.yaml of {fn} sets {unknown}, which nothing reads"
    for value in envs.values():
        if value.startswith("{{ secret:"):
            assert value.startswith("{{ secret:orchestrator-secrets:"), value
    annotations = template["metadata"]["annotations"]
    scale = doc["deploy"]["options"]["scale"]
    assert str(scale["min"]) == annotations["autoscaling.knative.dev/min-scale"]
    assert str(scale["max"]) == annotations["autoscaling.knative.dev/max-scale"]
    assert str(scale["target"]) == annotations["autoscaling.knative.dev/target"]
    assert doc["deploy"]["annotations"]["autoscaling.knative.dev/min-scale"] == \
        annotations["autoscaling.knative.dev/min-scale"]
    assert doc["deploy"]["options"]["resources"] == container["resources"]
    assert doc["deploy"]["serviceAccountName"] == template["spec"]["serviceAccountName"].replace(
        "rel-", "")


OTEL = {"otel": {"endpoint": "http://otel-collector.observability:4318",
                 "resourceAttributes": "deployment.environment=prod",
                 "headersSecret": "otlp-auth"}}


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_otel_values_set_the_standard_variables_on_every_function(fn: str) -> None:
    assert not {n for n in render("default").env(fn) if n.startswith("OTEL_")}
    rendered = render_values(OTEL)
    env = {e["name"]: e for e in rendered.container(fn)["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == OTEL["otel"]["endpoint"]
    assert env["OTEL_SERVICE_NAME"]["value"] == f"orchestrator-{fn}"
    assert env["OTEL_RESOURCE_ATTRIBUTES"]["value"] == "deployment.environment=prod"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"]["secretKeyRef"] == {
        "name": "otlp-auth", "key": "headers"}
    unknown = sorted(set(env) - known_names(fn))
    assert not unknown, f"{fn}: no settings field reads {unknown}"
