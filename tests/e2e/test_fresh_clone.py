"""`scripts/run` on a fresh clone: what a newcomer types first shows an action applied and
verified healthy, a plan waiting for approval, and a refusal by policy.

The clone is a real `git clone` of this repository (committed files only, nothing of this
working copy's state). Installing the dependencies again would take minutes and the network,
so the clone gets a venv of its own whose site-packages reach this test run's installed
dependencies, with the clone itself (not this checkout) first on its path, and the stamp
`scripts/setup` leaves after an install: `scripts/setup` then has nothing to do, as on any run
after the first, and everything else (the script, the CLI, the packaged scenarios, runbooks and
eventing files, the five functions) comes from the clone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _venv_for(clone: Path) -> None:
    """A venv in the clone that imports the clone's package and this run's dependencies."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=120)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "_clone_first.pth").write_text(f"{clone}\n")
    (site / "_deps.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n")
    script = venv / "bin" / "orchestrator"
    script.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom orchestrator.cli import "
                      "main\nsys.exit(main())\n")
    script.chmod(0o755)
    # What scripts/setup stamps after installing (`--test` stamps end in -1, plain ones in -0).
    stamp = hashlib.sha256((clone / "pyproject.toml").read_bytes()
                           + (clone / "scripts" / "setup").read_bytes()).hexdigest()[:16]
    (venv / f".installed-{stamp}-0").touch()


def test_scripts_run_on_a_fresh_clone_shows_a_heal_an_approval_and_a_refusal(
        tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True,
                   capture_output=True, timeout=120)
    assert not (clone / ".venv").exists()
    _venv_for(clone)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "GEMINI", "AGENT_", "KUBECONFIG"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # the demo's state, away from the user's
    done = subprocess.run([str(clone / "scripts" / "run")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "installing" not in done.stderr  # setup found the venv ready and stayed quiet
    out = done.stdout
    assert "incident-orchestrator demo" in out
    applied = out.split("an action applied automatically and verified healthy", 1)[1]
    assert ": applied" in applied.split("outcome:", 1)[0]
    assert applied.split("outcome:", 1)[1].startswith(" resolved (verified-healthy)")
    refused = out.split("an action refused by policy", 1)[1]
    assert "denied by policy" in refused and "outcome: escalated (policy)" in refused
    approval = out.split("an action waiting for a human's approval", 1)[1]
    assert "waiting for a human" in approval and "outcome: awaiting approval" in approval
    assert (tmp_path / "data" / "incident-orchestrator" / "demo").is_dir()
    # The package the clone's venv runs is the clone's, not this checkout's.
    where = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c",
                            "import orchestrator; print(orchestrator.__file__)"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           check=True).stdout
    assert Path(where.strip()).is_relative_to(clone)
