"""`orchestrator up` as a first contact: what it prints is enough to wire Alertmanager and log
in, incidents show up as lines as they change, and a manual trigger can be resolved again.

Real processes throughout: `up` (broker and five functions), `orchestrator trigger`,
`orchestrator incidents list`, `orchestrator token`.
"""

from __future__ import annotations

import os
import queue
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes.serving import wait_until

LABELS = ["namespace=shop", "pod=api-1"]


class Up:
    def __init__(self, tmp_path: Path) -> None:
        self.state = tmp_path / "state"
        self.env = {**os.environ, "HOME": str(tmp_path / "home")}
        self.env.pop("KUBECONFIG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "up", "--port", "0", "--console-port",
             "0", "--state", str(self.state)], env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 90) -> str:
        def matching_line() -> str | None:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None, self.proc.stderr.read()[-2000:]  # type: ignore[union-attr]
                return None
            self.out.append(line)
            return line if re.search(pattern, line) else None

        return wait_until(matching_line, timeout=timeout, every=0.005,
                          what=lambda: f"a line matching {pattern!r} in:\n" + "\n".join(self.out))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args, "--state",
                               str(self.state)], env=self.env, capture_output=True, text=True,
                              timeout=120)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=60)  # drains and closes both pipes


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    running = Up(tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
def test_banner_is_paste_ready_and_incidents_print_as_they_change(up: Up) -> None:
    up.wait_for(r"Incidents appear below")
    banner = "\n".join(up.out)
    # The Alertmanager config is valid YAML as printed, with a route and a receiver.
    block = banner[banner.index("route:"):banner.index("\nOr try it")]
    config = yaml.safe_load(block)
    assert config["route"]["receiver"] == "incident-orchestrator"
    (receiver,) = config["receivers"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"].startswith("http://127.0.0.1:") and hook["send_resolved"] is True
    token_file = Path(hook["http_config"]["authorization"]["credentials_file"])
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = up.cli("token", "ingest").stdout.strip()
    assert token_file.read_text() == token and token not in banner
    # How to log in to the console: the user and where their personal token comes from (the
    # service token reads and sweeps, it never logs in).
    assert re.search(r"console:  http://127\.0\.0\.1:\d+/  \(log in as \S+ with your personal "
                     r"token", banner)
    assert "orchestrator token approver --state" in banner
    approver = up.cli("token", "approver").stdout.strip()
    assert approver and approver != up.cli("token", "console").stdout.strip()
    assert "cluster:  none" in banner

    fired = up.cli("trigger", "KubePodCrashLooping", *LABELS)
    assert fired.returncode == 0, fired.stderr
    key = re.fullmatch(r"incident (\S+): firing\n", fired.stdout).group(1)  # type: ignore[union-attr]
    up.wait_for(rf"\s(open|escalated|awaiting approval)\s.*KubePodCrashLooping.*{re.escape(key)}")

    # --resolved ends the same incident (same key), options anywhere on the line.
    resolved = up.cli("trigger", "--resolved", "KubePodCrashLooping", *LABELS)
    assert resolved.returncode == 0, resolved.stderr
    assert resolved.stdout == f"incident {key}: resolved\n"
    up.wait_for(rf"\sresolved\s.*{re.escape(key)}")

    listed = up.cli("incidents", "list")
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["STARTED", "STATUS", "ALERT", "TARGET", "INCIDENT"]
    assert any(row.endswith(key) and "KubePodCrashLooping" in row for row in rows)


@pytest.mark.slow
def test_resolving_what_was_never_fired_says_so(up: Up) -> None:
    up.wait_for(r"Incidents appear below")
    done = up.cli("trigger", "KubePodCrashLooping", "namespace=other", "--resolved")
    assert done.returncode == 2
    assert "no firing trigger with exactly these labels" in done.stderr


def test_a_reader_that_goes_away_ends_the_listing_quietly(tmp_path: Path) -> None:
    (tmp_path / "state" / "audit").mkdir(parents=True)
    read, write = os.pipe()
    os.close(read)  # like `| head` after its lines: every write now fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "incidents", "list",
                               "--state", str(tmp_path / "state")], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 141
