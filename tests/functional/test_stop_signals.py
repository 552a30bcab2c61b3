"""Stopping `orchestrator replay` or `up` with a signal stops its function processes too.

A `timeout`, Ctrl-C or a CI runner ends the command with SIGTERM or SIGINT. The five functions run
in sessions of their own (out of reach of the terminal's signals), so unless the command stops
them itself, each stop leaves five gunicorn masters and their workers holding ports and memory.
The command runs for real here; its descendants are read from /proc before the signal and must
all be gone after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.serving import wait_until

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("ingest", "router", "agent", "executor", "console")


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state letter, command line) of every process this user can see."""
    found: dict[int, tuple[int, str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ")".
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(entry.name)] = (int(fields[1]), fields[0], cmdline)
    return found


def _descendants(root: int) -> dict[int, str]:
    procs = _processes()
    out: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, cmd) in procs.items():
            if ppid == parent and pid not in out:
                out[pid] = cmd
                frontier.append(pid)
    return out


def _alive(pids: set[int]) -> set[int]:
    procs = _processes()
    return {p for p in pids if p in procs and procs[p][1] != "Z"}


def _wait_for_functions(proc: subprocess.Popen[str], timeout: float) -> dict[int, str]:
    """The command's descendants once all five functions have a gunicorn worker serving."""
    def up() -> dict[int, str] | None:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        found = _descendants(proc.pid)
        procs = _processes()
        masters = [p for p, cmd in found.items()
                   if "functions_framework" in cmd and procs.get(p, (0,))[0] == proc.pid]
        workers = [p for p in found if procs.get(p, (0,))[0] in masters]
        return found if len(masters) == len(FUNCTIONS) and len(workers) >= len(FUNCTIONS) else None

    return wait_until(up, timeout=timeout, what="the five functions to come up")


def _run_until_up(tmp_path: Path, args: list[str]) -> tuple[subprocess.Popen[str], dict[int, str]]:
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    env.pop("KUBECONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args,
                             "--state", str(tmp_path / "state")],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        return proc, _wait_for_functions(proc, 90)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise


def _assert_all_gone(pids: set[int]) -> None:
    try:
        wait_until(lambda: not _alive(pids), timeout=30,
                   what=lambda: f"every process to end; left running: {sorted(_alive(pids))}")
    finally:
        for pid in _alive(pids):  # do not leak them into the rest of the session
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_replay_stops_every_function_process(tmp_path: Path, signum: int) -> None:
    # Many payloads, so the replay is still busy when the signal arrives.
    files = [str(p) for p in sorted((ROOT / "examples/alerts").glob("*.json"))] * 5
    proc, children = _run_until_up(tmp_path, ["replay", *files, "--timeout", "120"])
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err[-2000:]
    assert "stopped by" in err
    _assert_all_gone(set(children))


def test_sigterm_to_up_stops_every_function_process(tmp_path: Path) -> None:
    proc, children = _run_until_up(tmp_path, ["up", "--port", "0", "--console-port", "0"])
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    _assert_all_gone(set(children))
    assert not (tmp_path / "state" / "up.json").exists()
