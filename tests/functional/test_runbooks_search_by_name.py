"""`orchestrator runbooks search KubePodCrashLooping namespace=shop`: an SRE asks by alert name
and labels, without writing an Alertmanager payload first."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.resources import runbooks_dir


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("KB_") or key in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
            monkeypatch.delenv(key)


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "q"
    assert main(["runbooks", "index", "--source", str(runbooks_dir()), "--store", str(path),
                 "--quiet"]) == 0
    capsys.readouterr()
    return path


def test_search_by_alert_name_and_labels(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "search", "CPUThrottlingHigh", "namespace=shop", "pod=api-1",
                 "--store", str(store), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["runbook"] == "cpu_throttling" and hits[0]["retriever"] == "exact"


def test_options_may_come_before_the_name(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "search", "--store", str(store), "--json", "CPUThrottlingHigh"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["runbook"] == "cpu_throttling"


def test_an_annotation_counts_like_in_a_payload(store: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "search", "SomethingUnheardOf", "--store", str(store), "--json",
                 "--annotation", "runbook_url=https://wiki.example/runbooks/cpu_throttling.md"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and hits[0]["runbook"] == "cpu_throttling"


@pytest.mark.parametrize("argv, message", [
    ([], "give an alert name"),
    (["KubePodCrashLooping", "--alert", "x.json"], "not both"),
    (["KubePodCrashLooping", "namespace"], "expected label=value"),
])
def test_bad_arguments_say_what_is_expected(argv: list[str], message: str, store: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "search", *argv, "--store", str(store)]) == 2
    assert message in capsys.readouterr().err
