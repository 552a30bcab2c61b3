"""The embedded default never reaches a cluster it was not told about.

A laptop that tries `scripts/run` usually has a `~/.kube/config` (often production's). The loop
must not read it, nor `KUBECONFIG`, unless `--kubeconfig` names one; when it does, the command
says which context and server it talks to and that the executor only dry-runs.

The stray kubeconfigs here point at a socket that accepts and never answers: any use of them
shows as a connection (and would hang the router until its timeout).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.kube_api import FakeKubeAPI

ROOT = Path(__file__).resolve().parents[2]
CRASH = str(ROOT / "tests/events/alertmanager_crashloop.json")


class Tarpit:
    """A TCP listener that counts connections and never answers one."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.accepted:
            c.close()


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    t = Tarpit()
    yield t
    t.close()


def _kubeconfig(path: Path, server: str, context: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
    }))
    return path


def _enriched(out: dict) -> dict:  # type: ignore[type-arg]
    (incident,) = out["incidents"]
    (event,) = [e for e in incident["events"] if e["type"] == "incident.context.enriched"]
    return event["data"]["context"]  # type: ignore[no-any-return]


def test_scripts_run_ignores_the_home_kubeconfig_and_KUBECONFIG(tmp_path: Path,
                                                                tarpit: Tarpit) -> None:
    home = tmp_path / "home"
    server = f"https://127.0.0.1:{tarpit.port}"
    _kubeconfig(home / ".kube" / "config", server, "production")
    stray = _kubeconfig(tmp_path / "stray-kubeconfig", server, "production")
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(stray)}
    env.pop("XDG_DATA_HOME", None)
    done = subprocess.run([str(ROOT / "scripts" / "run"), "replay", CRASH, "--json",
                           "--timeout", "120"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cluster:  none" in done.stderr
    assert "production" not in done.stderr + done.stdout
    context = _enriched(json.loads(done.stdout))
    assert context["source"] == "none"
    assert context["available"] is False
    assert tarpit.accepted == [], "a kubeconfig nobody named was used"
    # The state went to the (temporary) user's data folder, not to the repository.
    assert (home / ".local" / "share" / "incident-orchestrator" / "broker.sqlite3").exists()


def test_a_named_kubeconfig_is_used_and_announced_with_the_dry_run(tmp_path: Path) -> None:
    with FakeKubeAPI() as api:
        kubeconfig = Path(api.write_kubeconfig(str(tmp_path / "kubeconfig")))
        cmd = [sys.executable, "-m", "orchestrator.cli", "replay", CRASH, "--json",
               "--state", str(tmp_path / "state"), "--timeout", "120",
               "--kubeconfig", str(kubeconfig)]
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"context fake at {api.url} (executor in dry-run" in done.stderr
    assert _enriched(json.loads(done.stdout))["source"] == "kubeconfig"


def test_a_kubeconfig_that_names_no_server_is_refused_before_anything_starts(
        tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("apiVersion: v1\nkind: Config\n")
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "replay", CRASH,
                           "--state", str(tmp_path / "state"), "--kubeconfig", str(bad)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "cannot read its current context and server" in done.stderr
    assert not (tmp_path / "state" / "broker.sqlite3").exists()
