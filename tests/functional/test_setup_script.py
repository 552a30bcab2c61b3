"""`scripts/setup` is a first contact: a few progress lines, pip's output in a log it names.

The real script runs against a copy of the repository whose `.venv/bin/python` is a stand-in
that talks as much as pip does (and can fail): what reaches the terminal is the script's own.
The wheel build is checked for the project's own packaging warnings (license, package data).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHATTY_PIP = """#!/bin/sh
i=0
while [ $i -lt 400 ]; do echo "Collecting something-$i"; i=$((i+1)); done
echo "pip says: $*" >&2
exit ${FAKE_PIP_EXIT:-0}
"""


def _copy(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup", repo / "scripts" / "setup")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(CHATTY_PIP)
    python.chmod(0o755)
    return repo


def _setup(repo: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(repo / "scripts" / "setup")], cwd=repo, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})


def test_setup_prints_a_few_lines_and_names_the_log(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    done = _setup(repo)
    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert 1 <= len(lines) <= 5, lines
    assert all(line.startswith("setup: ") for line in lines), lines
    assert "log: .venv/setup.log" in done.stderr
    assert done.stdout == ""  # stdout is the next command's: `scripts/run replay --json`
    log = (repo / ".venv" / "setup.log").read_text()
    assert log.count("Collecting something-") == 800  # pip upgrade + install, all logged
    # Installed once: the next run (scripts/run calls it every time) says nothing at all.
    again = _setup(repo)
    assert again.returncode == 0
    assert again.stdout == again.stderr == ""


def test_a_failed_install_shows_the_end_of_the_log(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    done = _setup(repo, FAKE_PIP_EXIT="3")
    assert done.returncode == 1
    assert "FAILED: upgrading pip; the last lines of .venv/setup.log" in done.stderr
    assert "pip says: -m pip install --upgrade pip" in done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) < 40


@pytest.mark.slow
def test_the_wheel_builds_without_the_projects_own_packaging_warnings(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v",
                           "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout + done.stderr
    assert "project.license` as a TOML table is deprecated" not in out
    assert "is absent from the `packages` configuration" not in out
    (wheel,) = tmp_path.glob("*.whl")
    names = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheel)],
                           capture_output=True, text=True, check=True).stdout
    for path in ("orchestrator/web/templates/incident.html", "orchestrator/web/static/",
                 "orchestrator/bundled/functions/router/func.yaml",
                 "orchestrator/bundled/functions/router/main.py"):
        assert path in names
