"""Recorded model answers: `orchestrator eval --model gemini --record` keeps the model's raw
answers per scenario (and never the key); `--model replay --recording` serves them to the real
Gemini adapter over Google's wire format, so CI scores the model path with no network and no
key. The committed recording was made from the fake Gemini of these tests (a naive model), and
its replay gives a fixed table; change an answer in it and the table changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.sim.model_tape import Recording, RecordingError
from tests.fakes.naive_model import NOTE, RECORDING, SCENARIOS, record

pytestmark = pytest.mark.slow

EXPECTED = {  # name: (runbook, proposed, applied, outcome, llm calls)
    # The naive restart does not apply after a fresh rollout: asked twice (the corrective
    # retry), the agent falls back to the offline plan, a rollback, which a human approves.
    "crashloop-fresh-rollout": ("k8s_crashloop", "rollback", ["rollback"],
                                "resolved (verified-healthy)", 0),
    "crashloop-stable-all-replicas": ("k8s_crashloop", "rollout_restart", ["rollout_restart"],
                                      "resolved (verified-healthy)", 1),
    "refuse-crashloop-kube-system": ("k8s_crashloop", "rollout_restart", [],
                                     "escalated (policy)", 1),
    "crashloop-restart-does-not-cure-bad-image": ("k8s_crashloop", "rollout_restart",
                                                  ["rollout_restart"],
                                                  "escalated (verification-failed)", 1),
}


def _replay(tmp_path: Path, recording: Path) -> dict[str, Any]:
    only = [a for name in SCENARIOS for a in ("--only", name)]
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "eval", "--json", "--model", "replay",
         "--recording", str(recording), "--state", str(tmp_path / "state"), *only],
        capture_output=True, text=True, timeout=600, check=False,
        env={k: v for k, v in os.environ.items()
             if "GEMINI" not in k and k != "AGENT_BASE_URL"})
    assert done.stdout.strip(), done.stderr[-2000:]
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _usage(answer: dict[str, Any]) -> int:
    return int(answer["body"]["usageMetadata"]["totalTokenCount"])


def test_replaying_the_committed_recording_gives_the_fixed_table(tmp_path: Path) -> None:
    rec = Recording.load(RECORDING)
    assert "NOT a real model" in rec.note and rec.model
    out = _replay(tmp_path, RECORDING)
    got = {s["name"]: (s["runbook"], s["proposed"], s["applied"], s["outcome"], s["llm_calls"])
           for s in out["scenarios"]}
    assert got == EXPECTED
    assert out["model"] == "replay" and out["recording"]["note"] == rec.note
    # Every recorded answer was served, and none was missing: the agent asked the tape only.
    assert out["recording"]["served"] == {k: len(v) for k, v in rec.scenarios.items()}
    assert out["recording"]["unanswered"] == {}
    # The tokens scored are the recorded model's own usage figures.
    for s in out["scenarios"]:
        if s["llm_calls"]:
            assert s["tokens"] == sum(_usage(a) for a in rec.scenarios[s["name"]]), s["name"]
    total = out["summary"]["total"]
    assert (total["scenarios"], total["passed"], total["stray_writes"]) == (4, 4, 0)


def test_a_changed_answer_in_the_recording_changes_the_score(tmp_path: Path) -> None:
    doc = json.loads(RECORDING.read_text())
    (answer,) = doc["scenarios"]["crashloop-stable-all-replicas"]
    part = answer["body"]["candidates"][0]["content"]["parts"][0]
    plan = json.loads(part["text"])
    part["text"] = json.dumps({**plan, "confidence": 0.1})  # the model now doubts itself
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(doc))
    out = _replay(tmp_path, changed)
    by_name = {s["name"]: s for s in out["scenarios"]}
    stable = by_name["crashloop-stable-all-replicas"]
    assert stable["applied"] == [] and stable["outcome"].startswith("escalated")
    assert not stable["passed"]
    assert by_name["refuse-crashloop-kube-system"]["passed"]


def test_recording_keeps_each_scenarios_raw_answers_and_never_the_key(tmp_path: Path) -> None:
    out_file = tmp_path / "rec.json"
    report, requests = record(out_file, state=tmp_path / "state")
    assert report["recording"]["note"] == NOTE
    rec = Recording.load(out_file)
    assert set(rec.scenarios) == set(SCENARIOS)
    assert sum(len(v) for v in rec.scenarios.values()) == len(requests)
    (stable,) = rec.scenarios["crashloop-stable-all-replicas"]
    plan = json.loads(stable["body"]["candidates"][0]["content"]["parts"][0]["text"])
    assert (plan["actions"][0]["target_name"], plan["actions"][0]["type"]) == (
        "cart", "rollout_restart")
    assert stable["status"] == 200 and rec.model == requests[0].model
    text = out_file.read_text()
    assert "AIzaSy" not in text and "x-goog-api-key" not in text
    # What the agent was given with the recorded answers scores as the live run did.
    live = {s["name"]: (s["outcome"], s["llm_calls"]) for s in report["scenarios"]}
    assert live == {k: (v[3], v[4]) for k, v in EXPECTED.items()}


@pytest.mark.parametrize("content", ["not json", json.dumps({"format": "other"}),
                                     json.dumps({"format": "orchestrator-model-recording/1",
                                                 "scenarios": {"x": [{"status": 200}]}})])
def test_a_file_that_is_not_a_recording_is_refused(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(RecordingError):
        Recording.load(bad)
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "eval", "--model", "replay",
                           "--recording", str(bad)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode != 0 and "recording" in done.stderr
