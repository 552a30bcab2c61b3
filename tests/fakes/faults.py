"""The dependencies the fault rig breaks on purpose, each with its switch (see the rig in
tests/functional/fault_support.py).

- MinIO: moto's S3 server as a process on one fixed port, stopped and started again. moto keeps
  nothing across a restart, like a MinIO on an emptyDir volume: the bucket comes back empty.
- The broker's disk: a small tmpfs holding its SQLite file, filled up on demand (root only).
- Qdrant: the agent's local store, held by another client (its lock), as a second process would.
- Gemini: what the fake server answers (a valid plan for the alerted workload, 429, 500, a hang).
- Kubernetes controllers: the part the fake API does not play (a restarted workload heals).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import IO

from tests.fakes import kube_objects as ko
from tests.fakes.gemini import FakeGemini, Reply, Request
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.s3 import start_moto
from tests.fakes.serving import free_port, wait_until

log = logging.getLogger(__name__)

_ALERT = re.compile(r"^<<<ALERT\n(.*?)\n>>>$", re.S | re.M)
_DEPLOYMENT_PATH = re.compile(r"/namespaces/([^/]+)/deployments/([^/?]+)$")


class S3Process:
    """moto's S3 server on one fixed port: `stop()` is a MinIO outage, `start()` its return."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = start_moto(self.port)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None


class BrokerDisk:
    """A small tmpfs for the broker's database; `fill()` leaves it no free byte."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / "filler"

    @classmethod
    def mount(cls, path: Path, size_mb: int = 32) -> BrokerDisk | None:
        if os.geteuid() != 0:
            return None
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs",
                               str(path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log.warning("cannot mount a tmpfs for the broker: %s", done.stderr.strip())
            return None
        return cls(path)

    def fill(self) -> None:
        # A checkpoint first, so the write-ahead log is empty: SQLite reuses a grown WAL file's
        # space, and the fault must bite on the broker's next write, not a few megabytes later.
        with contextlib.closing(sqlite3.connect(self.path / "broker.sqlite3", timeout=10)) as c:
            wait_until(lambda: c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0,
                       timeout=10, what="the broker's WAL to be checkpointed")
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 20, 4096, 512):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", str(self.path)], capture_output=True, check=False)


class StoreLock:
    """The agent's local Qdrant store held by another client: the agent cannot open it."""

    def __init__(self, store: Path) -> None:
        self._path = store / ".lock"
        self._file: IO[str] | None = None

    def take(self) -> bool:
        """True once held; False when the agent (or anyone) holds the store."""
        f = self._path.open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class Brain:
    """What the fake Gemini answers: a valid rollout-restart plan for the alerted workload, or
    the failure switched on (`mode`: ok, 429, 500, hang)."""

    def __init__(self, gemini: FakeGemini) -> None:
        self.gemini = gemini
        self.mode = "ok"
        self.apps: dict[str, str] = {}

    def __call__(self, req: Request) -> Reply:
        if self.mode == "429":
            return Reply.error(429, "Resource has been exhausted (e.g. check quota).")
        if self.mode == "500":
            return Reply.error(500, "An internal error has occurred.")
        if self.mode == "hang":
            return Reply.hanging()
        ns = namespace_of(req)
        return Reply.plan({
            "hypothesis": "Every replica of a long-stable revision exits with an application "
                          "error; a restart clears the back-off.",
            "confidence": 0.85, "runbook": "k8s_crashloop", "chunk": "k8s_crashloop#what-to-do",
            "actions": [{"type": "rollout_restart", "target_kind": "Deployment",
                         "target_namespace": ns, "target_name": self.apps.get(ns, "?"),
                         "parameters": [], "reason": "the runbook's stable-revision case"}]})

    def heal(self) -> None:
        """Answer again, and let go of requests left hanging (their clients gave up)."""
        self.mode = "ok"
        self.gemini.release.set()
        self.gemini.release.clear()

    def calls(self, ns: str) -> int:
        return sum(1 for r in self.gemini.generate_requests() if namespace_of(r) == ns)


def namespace_of(req: Request) -> str:
    m = _ALERT.search(req.prompt)
    labels = json.loads(m.group(1)).get("labels", {}) if m else {}
    return str(labels.get("namespace", ""))


class Controllers:
    """The Deployment controller's part, which the fake API does not play: once the executor
    patched a Deployment (a restart, a rollback), its pods come up ready and it is available,
    so the router's verification sees the workload heal."""

    def __init__(self, api: FakeKubeAPI) -> None:
        self.api = api
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="controllers", daemon=True)

    def __enter__(self) -> Controllers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        seen = 0
        while not self._stop.wait(0.05):
            new = self.api.requests_since(seen)
            seen += len(new)
            for r in new:
                m = _DEPLOYMENT_PATH.search(r.path)
                if r.method == "PATCH" and m and not r.dry_run and r.injected_status is None:
                    self._rolled_out(m.group(1), m.group(2))

    def _rolled_out(self, ns: str, name: str) -> None:
        # The Deployment's own pods (named <deployment>-<hash>-<suffix>), not its neighbours'.
        for pod in self.api.objects("Pod", ns):
            if pod["metadata"]["name"].startswith(f"{name}-"):
                self.api.mutate("Pod", ns, pod["metadata"]["name"], ko.heal_pod)
        self.api.mutate("Deployment", ns, name, ko.roll_out)


class DiskErrors(logging.Handler):
    """Counts the broker's log records about a full disk: events its ingress refused, and
    deliveries whose outcome (a reply, a retry) it could not record."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.refused = 0
        self.deliveries = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage() + (str(record.exc_info[1]) if record.exc_info else "")
        if "disk is full" not in text:
            return
        if record.getMessage().startswith("broker: refused"):
            self.refused += 1
        else:
            self.deliveries += 1
