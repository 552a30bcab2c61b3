"""`orchestrator demo` (what `scripts/run` runs with no arguments): on the simulated cluster,
through the real functions, it shows an action applied and verified healthy, a plan waiting
for approval with how to approve it, a refusal by policy and an escalation; every timeline
cites its runbook, and no reason is cut mid-word."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.sim.timeline import say
from tests.fakes.serving import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_demo_shows_a_healed_workload_an_approval_a_refusal_and_an_escalation(
        tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "demo", "--state",
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    blocks = re.split(r"\n(?=\[\d/4\])", out)[1:]
    assert [b.split(":", 1)[0] for b in blocks] == ["[1/4] an action applied automatically and "
                                                    "verified healthy", "[2/4] an action "
                                                    "refused by policy", "[3/4] nothing safe to "
                                                    "do", "[4/4] an action waiting for a human's "
                                                    "approval"]
    applied, refused, escalated, approval = blocks
    assert "rollout_restart Deployment/cart: applied" in applied
    assert "outcome: resolved (verified-healthy)" in applied
    assert "log tail" in applied and "event BackOff" in applied
    assert "outcome: escalated (policy)" in refused and "denied by policy" in refused
    assert "outcome: escalated (no-applicable-action)" in escalated
    assert "waiting for a human" in approval and "outcome: awaiting approval" in approval
    assert "orchestrator demo --console" in approval
    for block in blocks:
        assert "citing runbook k8s_" in block or "runbook k8s_" in block
    assert "context from none" not in out
    assert max(len(line) for line in out.splitlines()) <= 100  # wrapped, not cut


def test_wrapped_reasons_end_on_whole_words() -> None:
    text = ("refused: action 1 (rollout_restart kube-system/Deployment/dns-cache-w2xgc5gjv7): "
            "namespace 'kube-system' is denied by policy " * 6)
    lines = say(text, max_lines=2)
    assert len(lines) == 2 and lines[-1].endswith(" …")
    words = set(text.split())
    for line in lines:
        for word in line.split():
            assert word in words or word == "…", word  # no word was broken, not at hyphens


def test_scripts_run_defaults_to_the_demo() -> None:
    script = (ROOT / "scripts" / "run").read_text()
    assert re.search(r'if \[ \$# -eq 0 \]; then\s+set -- demo\s+fi', script)


@pytest.mark.slow
def test_demo_console_waits_for_the_human_and_the_approved_rollback_heals(
        tmp_path: Path) -> None:
    import threading

    port = free_port()
    with subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "demo", "--console", "--console-port",
             str(port), "--state", str(tmp_path)], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True) as proc:
        lines: list[str] = []
        assert proc.stdout is not None
        stdout = proc.stdout
        reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")),
                                  daemon=True)
        reader.start()
        try:
            def approve_hint() -> list[str]:
                assert proc.poll() is None, "".join(lines)
                return [ln for ln in list(lines) if "approve it: orchestrator approve" in ln]

            hint = wait_until(approve_hint, timeout=180,
                              what=lambda: "the hint to approve in:\n" + "".join(lines))
            command = hint[0].split("approve it: ", 1)[1].split()
            assert command[:2] == ["orchestrator", "approve"] and "--state" in command
            done = subprocess.run([sys.executable, "-m", "orchestrator.cli", *command[1:]],
                                  capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 0, done.stdout + done.stderr
            assert proc.wait(120) == 0
            reader.join(10)
        finally:
            if proc.poll() is None:
                proc.kill()
    out = "".join(lines)
    tail = out.split("console: http://127.0.0.1:", 1)[1]
    assert "rollback Deployment/checkout: applied" in tail
    assert tail.rstrip().endswith("outcome: resolved (verified-healthy)")
