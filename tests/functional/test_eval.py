"""`orchestrator eval` end to end: the real five functions and local broker against the
simulated cluster, on a small fixed set of scenarios, give a fixed table; and a scenario whose
cure is taken away fails its verification, so the score cannot pass by construction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.sim.scenario import packaged_dir

pytestmark = pytest.mark.slow

SET = ("crashloop-fresh-rollout", "crashloop-stable-all-replicas", "refuse-crashloop-kube-system",
       "crashloop-restart-does-not-cure-bad-image")

EXPECTED = {  # name: (runbook, proposed, applied, outcome, verified)
    "crashloop-fresh-rollout": ("k8s_crashloop", "rollback", ["rollback"],
                                "resolved (verified-healthy)", True),
    "crashloop-stable-all-replicas": ("k8s_crashloop", "rollout_restart", ["rollout_restart"],
                                      "resolved (verified-healthy)", True),
    "refuse-crashloop-kube-system": ("k8s_crashloop", "rollout_restart", [],
                                     "escalated (policy)", False),
    "crashloop-restart-does-not-cure-bad-image": ("k8s_crashloop", "rollout_restart",
                                                  ["rollout_restart"],
                                                  "escalated (verification-failed)", False),
}


def _eval(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "eval", "--json", "--state",
         str(tmp_path / "state"), *args],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.stdout.strip(), done.stderr[-2000:]
    return done.returncode, json.loads(done.stdout)


def test_eval_on_a_small_set_gives_the_expected_table(tmp_path: Path) -> None:
    code, out = _eval(tmp_path, *[a for name in SET for a in ("--only", name)])
    got = {s["name"]: (s["runbook"], s["proposed"], s["applied"], s["outcome"],
                       s["recovery_seconds"] is not None) for s in out["scenarios"]}
    assert got == EXPECTED
    assert code == 0, [s["checks"] for s in out["scenarios"]]
    total = out["summary"]["total"]
    assert (total["scenarios"], total["passed"], total["stray_writes"]) == (4, 4, 0)
    assert total["llm_calls"] == 0 and out["model"] == "offline"
    assert total["median_ttr_s"] is not None and total["median_ttr_s"] < 30
    assert {s["name"]: s["did_nothing_right"] for s in out["scenarios"]} == {
        "crashloop-fresh-rollout": None, "crashloop-stable-all-replicas": None,
        "refuse-crashloop-kube-system": True, "crashloop-restart-does-not-cure-bad-image": None}
    approvals = {s["name"] for s in out["scenarios"] if s["approval_asked"]}
    assert approvals == {"crashloop-fresh-rollout"}


def test_a_scenario_without_its_cure_fails_verification(tmp_path: Path) -> None:
    doc = yaml.safe_load((packaged_dir() / "crashloop-stable-all-replicas.yaml").read_text())
    doc["fault"]["until_replaced"] = False  # the crash now survives the restart
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "broken.yaml").write_text(yaml.safe_dump(doc))
    code, out = _eval(tmp_path, "--scenarios", str(folder))
    (result,) = out["scenarios"]
    assert code == 1
    assert result["applied"] == ["rollout_restart"]
    assert result["checks"]["verified"] is False and result["checks"]["outcome"] is False
    assert result["outcome"] == "escalated (verification-failed)"


def test_the_model_path_is_scored_with_its_calls_and_tokens(tmp_path: Path) -> None:
    import os

    from tests.fakes.gemini import Reply, fake_gemini

    def model(req: Any) -> Reply:
        return Reply.plan({
            "hypothesis": "Every replica of a stable revision exits after the database "
                          "restarted; a restart clears the back-off.",
            "confidence": 0.85, "runbook": "k8s_crashloop", "chunk": "k8s_crashloop#what-to-do",
            "actions": [{"type": "rollout_restart", "target_kind": "Deployment",
                         "target_namespace": "shop", "target_name": "cart", "parameters": [],
                         "reason": "the runbook's stable-revision case"}]})

    with fake_gemini() as fake:
        fake.responder = model
        env = {**os.environ, "GEMINI_API_KEY": "AIzaSy-eval-test-key", "AGENT_BASE_URL": fake.url,
               "AGENT_BACKOFF_SECONDS": "0.01", "AGENT_TIMEOUT_SECONDS": "10"}
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "eval", "--json", "--model", "gemini",
             "--only", "crashloop-stable-all-replicas", "--state", str(tmp_path / "state")],
            capture_output=True, text=True, timeout=600, check=False, env=env)
        assert done.stdout.strip(), done.stderr[-2000:]
        out = json.loads(done.stdout)
        (result,) = out["scenarios"]
        assert fake.generate_requests(), "the model was never asked"
    assert out["model"] == "gemini" and result["passed"], result
    assert result["llm_calls"] == 1 and result["tokens"] > 0
    assert result["applied"] == ["rollout_restart"]
    assert result["outcome"] == "resolved (verified-healthy)"
