"""`orchestrator runbooks index|search` as an SRE (and the Helm init Job) runs them."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.adapters.vectors import QdrantStore
from orchestrator.cli import main
from orchestrator.resources import runbooks_dir
from tests.conftest import EVENTS, load_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("KB_") or key in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
            monkeypatch.delenv(key)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    shutil.copytree(runbooks_dir(), folder)
    return folder


def _payload(tmp_path: Path, name: str, **annotations: str) -> Path:
    doc = load_event("alertmanager_crashloop")
    alert = doc["alerts"][0]
    alert["labels"]["alertname"] = name
    alert["annotations"] = annotations
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


def test_index_then_index_again(tmp_path: Path, source: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "q"
    assert main(["runbooks", "index", "--source", str(source), "--store", str(store)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("16 added, 0 updated, 0 unchanged, 0 removed")
    # No terminal (the chart's index Job): one plain progress line per runbook, no bar.
    lines = out.err.splitlines()
    assert lines and all(line.startswith("indexed ") for line in lines), lines
    assert lines[-1].startswith("indexed 16/16 ") and "\x1b" not in out.err
    assert main(["runbooks", "index", "--source", str(source), "--store", str(store)]) == 0
    assert capsys.readouterr().out.startswith("0 added, 0 updated, 16 unchanged, 0 removed")


def test_search_prints_ranked_runbooks_as_json(tmp_path: Path, source: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "q"
    main(["runbooks", "index", "--source", str(source), "--store", str(store), "--quiet"])
    assert capsys.readouterr().out == ""
    payload = EVENTS / "alertmanager_crashloop.json"
    assert main(["runbooks", "search", "--alert", str(payload), "--store", str(store),
                 "--top", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["runbook"] == "k8s_crashloop" and hits[0]["score"] == 1.0
    assert len(hits) <= 3
    assert all({"runbook", "score", "heading"} <= set(h) for h in hits)
    assert all(isinstance(h["score"], float) and 0 <= h["score"] <= 1 for h in hits)


def test_search_abstains_with_an_empty_list(tmp_path: Path, source: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "q"
    main(["runbooks", "index", "--source", str(source), "--store", str(store), "--quiet"])
    watchdog = _payload(
        tmp_path, "Watchdog",
        summary="An alert that should always be firing to certify that Alertmanager works.",
        description="This is an alert meant to ensure that the entire alerting pipeline is "
                    "functional. This alert is always firing.")
    assert main(["runbooks", "search", "--alert", str(watchdog), "--store", str(store),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["runbooks", "search", "--alert", str(watchdog), "--store", str(store)]) == 0
    assert "no runbook applies" in capsys.readouterr().out


def test_search_reads_one_alert_from_stdin(tmp_path: Path, source: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "q"
    main(["runbooks", "index", "--source", str(source), "--store", str(store), "--quiet"])
    alert = {"labels": {"alertname": "NodeDiskRunningFull", "mountpoint": "/var"},
             "annotations": {"description": "Filesystem /var on worker-3 has 4% space left "
                                            "and is filling up."}, "status": "firing"}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(alert)))
    assert main(["runbooks", "search", "--alert", "-", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. node_disk_pressure  score=") and "via bm25" in out


def test_with_no_index_search_falls_back_to_the_source(tmp_path: Path, source: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    payload = _payload(tmp_path, "KubeJobFailed", summary="Job failed to complete.")
    assert main(["runbooks", "search", "--alert", str(payload), "--store", str(tmp_path / "n"),
                 "--source", str(source), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["runbook"] == "k8s_job_failed"


def test_errors_are_reported_with_a_non_zero_exit(tmp_path: Path, source: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (source / "broken.md").write_text("---\nactions: [{type: reboot}]\n---\n")
    assert main(["runbooks", "index", "--source", str(source), "--store",
                 str(tmp_path / "q")]) == 2
    assert "error: broken.md: actions.0" in capsys.readouterr().err

    (source / "broken.md").unlink()
    held = QdrantStore.connect(path=tmp_path / "held")
    try:
        assert main(["runbooks", "index", "--source", str(source), "--store",
                     str(tmp_path / "held")]) == 1
        assert "another process" in capsys.readouterr().err
    finally:
        held.close()

    (tmp_path / "bad.json").write_text("{not json")
    assert main(["runbooks", "search", "--alert", str(tmp_path / "bad.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_terminal_gets_a_progress_bar(tmp_path: Path, source: Path) -> None:
    master, slave = pty.openpty()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "runbooks", "index", "--source", str(source),
         "--store", str(tmp_path / "q")],
        stdout=subprocess.PIPE, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(30) == 0
    finally:
        os.close(master)
        if proc.stdout:
            proc.stdout.close()
    text = seen.decode()
    assert "indexing [" in text and "16/16" in text and "#" * 30 in text
