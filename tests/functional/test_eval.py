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
