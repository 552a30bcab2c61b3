"""The policy as a typed document: errors that name the line, a JSON Schema exported from the
model and carried verbatim by the chart, and `orchestrator policy check`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from orchestrator.act.policy import PolicyError, load_policy, parse_policy
from orchestrator.act.policy_schema import policy_schema, splice
from orchestrator.cli import main

ROOT = Path(__file__).resolve().parents[2]
VALUES_SCHEMA = ROOT / "helm" / "orchestrator" / "values.schema.json"


@pytest.mark.parametrize(("text", "expected"), [
    ("mode: yolo\n", "p.yaml:1: mode: Input should be"),
    ("kill_switch: false\nnamespaces:\n  allow: [shop]\n  levels:\n    shop: fast\n",
     "p.yaml:5: namespaces.levels.shop: Input should be"),
    ("mode: auto\nactions:\n  scale: {allowed: true}\n  delete_namespace: {allowed: true}\n",
     "p.yaml:4: actions.delete_namespace.[key]: Input should be"),
    ("actions:\n  delete_pod:\n    risk: low\n    auto_aprove: true\n",
     "p.yaml:4: actions.delete_pod.auto_aprove: Extra inputs are not permitted"),
    ("approvers:\n  - alice\n  - [bob]\n", "p.yaml:3: approvers.1: Input should be a valid string"),
    ("budget:\n  window_seconds: 60\n  max_actions: 0\n", "p.yaml:3: budget.max_actions:"),
    ("- mode: auto\n", "p.yaml:1: the policy must be a mapping"),
])
def test_errors_name_the_line(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="p.yaml")
    assert str(caught.value).startswith(expected), str(caught.value)


def test_an_unknown_action_type_is_one_error_not_two() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("actions:\n  delete_namespace: {allowed: true}\n", source="p.yaml")
    assert str(caught.value).count("p.yaml:") == 1


def test_the_charts_values_schema_carries_the_exported_schema_verbatim() -> None:
    values = json.loads(VALUES_SCHEMA.read_text())
    assert values["properties"]["executor"]["properties"]["policy"] == policy_schema()
    text = VALUES_SCHEMA.read_text()
    assert splice(text, policy_schema()) == text, "rewrite: python -m " \
        "orchestrator.act.policy_schema helm/orchestrator/values.schema.json"


def test_the_schema_accepts_what_the_executor_accepts_and_refuses_what_it_refuses() -> None:
    schema = policy_schema()
    chart = yaml.safe_load((ROOT / "helm/orchestrator/values.yaml").read_text())
    good = [chart["executor"]["policy"], {}, {"mode": "observe", "namespaces": {
        "levels": {"shop": "auto", "team-*": "dry-run"}}}]
    for doc in good:
        jsonschema.validate(doc, schema)
        parse_policy(yaml.safe_dump(doc))
    bad = [{"mode": "yolo"}, {"namespaces": {"levels": {"shop": "fast"}}},
           {"actions": {"delete_pod": {"auto_aprove": True}}}, {"kill_swich": True},
           {"budget": {"max_actions": 0}}]
    for doc in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, schema)
        with pytest.raises(PolicyError):
            parse_policy(yaml.safe_dump(doc))


def test_policy_check_names_the_line_and_schema_prints_the_schema(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("mode: observe\n")
    bad.write_text("mode: auto\nnamespaces:\n  levels: {shop: fast}\n")
    assert main(["policy", "check", str(good)]) == 0
    assert "default level observe (shadow mode: nothing writes)" in capsys.readouterr().out
    assert main(["policy", "check", str(good), str(bad)]) == 1
    assert f"{bad}:3: namespaces.levels.shop" in capsys.readouterr().err
    assert main(["policy", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == policy_schema()


def test_a_broken_policy_file_still_reads_as_an_error_the_executor_fails_closed_on(
        tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("mode: auto\nbudget:\n  max_actions: -1\n")
    with pytest.raises(PolicyError, match=r"policy.yaml:3: budget.max_actions"):
        load_policy(path)
