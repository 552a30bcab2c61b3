"""A naive fake model, and how the committed model recording was made from it.

`naive_model` answers the fake Gemini's generateContent requests like a careless model would:
whatever the alert, restart the Deployment whose pod it names, citing the crash-loop runbook.
It is right on a stable revision that crashed on a passing error, wrong after a fresh rollout
(the runbook wants a rollback there), so a replay of its answers scores differently from the
offline planner and shows the model path is what is scored.

    .venv/bin/python -m tests.fakes.naive_model OUT.json

runs `orchestrator eval --model gemini --record OUT.json` on `SCENARIOS` against the fake
Gemini answering with `naive_model`. The recording is labelled as made by this fake: it is not,
and must never be presented as, a real model's answers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fakes.gemini import Reply, Request, fake_gemini

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "events" / "model_recordings" / "fake-gemini-naive.json"
NOTE = ("made by the test suite's fake Gemini (tests/fakes/naive_model.py: restart the "
        "alerted Deployment, whatever the cluster shows); NOT a real model's answers")
SCENARIOS = ("crashloop-fresh-rollout", "crashloop-stable-all-replicas",
             "refuse-crashloop-kube-system", "crashloop-restart-does-not-cure-bad-image")
_ALERT = re.compile(r"<<<ALERT\n(.*?)\n>>>", re.S)


def naive_model(req: Request) -> Reply:
    """Restart the Deployment owning the alert's pod (its name without the two hash parts)."""
    found = _ALERT.search(req.prompt)
    alert = json.loads(found.group(1)) if found else {}
    labels = alert.get("labels") or {}
    namespace, pod = labels.get("namespace", ""), labels.get("pod", "")
    deployment = pod.rsplit("-", 2)[0] if pod.count("-") >= 2 else pod
    return Reply.plan({
        "hypothesis": f"The pods of {deployment} crash; a restart usually clears it.",
        "confidence": 0.8, "runbook": "k8s_crashloop", "chunk": "k8s_crashloop#what-to-do",
        "actions": [{"type": "rollout_restart", "target_kind": "Deployment",
                     "target_namespace": namespace, "target_name": deployment,
                     "parameters": [], "reason": "restart the crashing workload"}]})


def record(out: Path, *, state: Path, scenarios: tuple[str, ...] = SCENARIOS,
           ) -> tuple[dict[str, Any], list[Request]]:
    """`orchestrator eval --model gemini --record OUT` against the fake answering naively;
    its JSON report and the requests the fake received."""
    with fake_gemini() as fake:
        fake.responder = naive_model
        env = {**os.environ, "GEMINI_API_KEY": "AIzaSy-fake-key-for-recording",
               "AGENT_BASE_URL": fake.url, "AGENT_BACKOFF_SECONDS": "0.01",
               "AGENT_TIMEOUT_SECONDS": "10"}
        only = [a for name in scenarios for a in ("--only", name)]
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "eval", "--json", "--model", "gemini",
             "--record", str(out), "--note", NOTE, "--state", str(state), *only],
            capture_output=True, text=True, timeout=600, check=False, env=env, cwd=ROOT)
        if not done.stdout.strip():
            raise RuntimeError(done.stderr[-2000:])
        return json.loads(done.stdout), fake.generate_requests()


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else RECORDING
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        report, _ = record(target, state=Path(tmp))
    print(json.dumps(report["summary"]["total"], indent=1))
