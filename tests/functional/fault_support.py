"""The fault rig: the real stack (local broker + five function processes) wired to dependencies
that fail on demand (tests/fakes/faults.py). Shared by tests/functional/test_faults*.py and
bench/faults_table.py.

Kubernetes is FakeKubeAPI (`fail`, `delay`) with stand-in controllers; Gemini is the fake
server; the audit log of the console and the agent is on moto's S3 (MinIO's protocol); Qdrant is
the agent's local store; the broker's SQLite file sits on a small tmpfs when root can mount one
(without it the disk-full fault is reported as not run). Broker backoff is scaled (`time_scale`)
so retries take seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from orchestrator.adapters.object_store import MinioStore
from orchestrator.console import audit
from orchestrator.errors import TransientError
from orchestrator.local.queue import DeadLetter, StoredEvent
from orchestrator.local.stack import Stack, StackOptions
from tests.conftest import load_event
from tests.fakes import kube_objects as ko
from tests.fakes.faults import (
    Brain,
    BrokerDisk,
    Controllers,
    DiskErrors,
    S3Process,
    StoreLock,
)
from tests.fakes.gemini import fake_gemini
from tests.fakes.kube_api import FakeKubeAPI, RecordedRequest

CLUSTER = "prod-eu-west-1"
GEMINI_KEY = "AIzaSy-fault-rig-0c6e1d"
S3_KEY = "testing"
AUDIT_BUCKET = "incident-audit"


@dataclass
class Workload:
    namespace: str
    app: str
    scenario: ko.Scenario
    fingerprint: str

    def alert(self) -> dict[str, Any]:
        payload = load_event("alertmanager_crashloop")
        alert = payload["alerts"][0]
        alert["labels"].update(namespace=self.namespace, pod=self.scenario["pod"]["metadata"]
                               ["name"], container="app", cluster=CLUSTER)
        alert["fingerprint"] = self.fingerprint
        alert["startsAt"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        return payload


class Sender:
    """One webhook sent as Alertmanager sends it: again after a 5xx or a refused connection,
    every 100 ms, until accepted."""

    def __init__(self, url: str, token: str, payload: dict[str, Any]) -> None:
        self.url, self.token, self.payload = url, token, payload
        self.refused = 0
        self.keys: list[str] = []
        self.accepted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alertmanager", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=10, trust_env=False) as client:
            while not self._stop.is_set():
                try:
                    r = client.post(self.url, json=self.payload,
                                    headers={"Authorization": f"Bearer {self.token}"})
                    if r.status_code in (200, 207):
                        self.keys = list(r.json()["incidents"])
                        self.accepted.set()
                        return
                    assert r.status_code >= 500, f"ingest refused for good: {r.status_code}"
                except httpx.TransportError:
                    pass
                self.refused += 1
                self._stop.wait(0.1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(15)


class Rig:
    """Everything running: `with Rig(root) as rig:`; `rig.workload(tag)` makes a new target."""

    def __init__(self, root: Path, *, time_scale: float = 0.2) -> None:
        self.root = root
        self.time_scale = time_scale
        self._exit = ExitStack()
        self._senders: list[Sender] = []

    def __enter__(self) -> Rig:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for sender in self._senders:
            sender.close()
        self._exit.close()

    def _start(self) -> None:
        self.api = self._exit.enter_context(FakeKubeAPI())
        self.gemini = self._exit.enter_context(fake_gemini())
        self.brain = Brain(self.gemini)
        self.gemini.responder = self.brain
        self.s3 = S3Process()
        self.s3.start()
        self._exit.callback(self.s3.stop)
        state = self.root / "state"
        state.mkdir(parents=True)
        self.disk = BrokerDisk.mount(self.root / "disk")
        self.disk_errors = DiskErrors()
        broker_log = logging.getLogger("orchestrator.local.broker")
        broker_log.addHandler(self.disk_errors)
        self._exit.callback(broker_log.removeHandler, self.disk_errors)
        if self.disk is not None:
            self._exit.callback(self.disk.close)
            (state / "broker.sqlite3").symlink_to(self.disk.path / "broker.sqlite3")
        s3 = {"ENDPOINT": self.s3.endpoint, "ACCESS_KEY": S3_KEY, "SECRET_KEY": S3_KEY}
        env = {
            "agent": {"AGENT_GEMINI_API_KEY": GEMINI_KEY, "AGENT_BASE_URL": self.gemini.url,
                      "AGENT_TIMEOUT_SECONDS": "1", "AGENT_RETRIES": "1",
                      "AGENT_BACKOFF_SECONDS": "0.05", "AGENT_CLAIM_WAIT_SECONDS": "1",
                      **{f"AGENT_AUDIT_{k}": v for k, v in s3.items()}},
            "console": {f"CONSOLE_AUDIT_{k}": v for k, v in s3.items()},
            "router": {"ROUTER_REQUEST_TIMEOUT_SECONDS": "1", "ROUTER_VERIFY_TIMEOUT_SECONDS": "10",
                       "ROUTER_VERIFY_SETTLE_SECONDS": "0.5"},
            "executor": {"EXECUTOR_REQUEST_TIMEOUT_SECONDS": "1"},
        }
        kubeconfig = Path(self.api.write_kubeconfig(str(self.root / "kubeconfig")))
        self.stack = Stack(StackOptions(state=state, enforce=True, kubeconfig=kubeconfig,
                                        cluster_name=CLUSTER, time_scale=self.time_scale,
                                        env=env))
        self.stack.start()
        self._exit.callback(self.stack.stop)
        self.kb_lock = StoreLock(state / "qdrant")
        self._exit.callback(self.kb_lock.release)
        self.audit = MinioStore.connect(self.s3.endpoint, S3_KEY, S3_KEY, AUDIT_BUCKET)
        self._exit.enter_context(Controllers(self.api))

    # -- the cluster side ------------------------------------------------------------------

    def workload(self, tag: str) -> Workload:
        ns = "f-" + re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")
        s = ko.stable_crashlooping_deployment(ns, "svc")
        s.load(self.api)
        self.brain.apps[ns] = "svc"
        return Workload(ns, "svc", s, hashlib.sha256(ns.encode()).hexdigest()[:16])

    def writes(self, ns: str) -> list[RecordedRequest]:
        """Writes that reached the workload's objects (not dry runs, not refused by a fault)."""
        return [r for r in self.api.requests
                if r.method in ("PATCH", "POST", "DELETE", "PUT") and not r.dry_run
                and r.injected_status is None and f"/namespaces/{ns}/" in r.path
                and "/events" not in r.path]

    # -- alerts in, outcomes out -----------------------------------------------------------

    def send(self, w: Workload) -> Sender:
        sender = Sender(self.stack.ingest_url, self.stack.secrets["ingest_token"], w.alert())
        self._senders.append(sender)
        return sender

    def events(self, key: str) -> list[StoredEvent]:
        assert self.stack.broker is not None
        return self.stack.broker.events(key)

    def dead_letters(self, key: str) -> list[DeadLetter]:
        assert self.stack.broker is not None
        return [d for d in self.stack.broker.list_deadletters()
                if d.event.attributes.get("incidentkey") == key]

    def audit_missing(self, key: str) -> set[str] | None:
        """Event ids of the incident the console's audit log lacks (None: log unreadable)."""
        wanted = {e.attributes["id"] for e in self.events(key)
                  if e.attributes["type"].startswith("incident.")}
        try:
            logged = {r.id for r in audit.read(self.audit, key)}
        except TransientError:
            return None
        return wanted - logged

    def log_messages(self, function: str, key: str) -> list[str]:
        """What one function logged while handling the incident's events."""
        path = self.stack.state / "logs" / f"{function}.log"
        found = []
        for line in path.read_text(errors="replace").splitlines():
            if key in line and line.startswith("{"):
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if doc.get("incident_key") == key:
                    found.append(str(doc.get("message", "")))
        return found

    def failed_deliveries(self, function: str, key: str) -> int:
        """Deliveries of the incident's events the function answered with a 5xx."""
        return sum(m.startswith("failed, the sender should retry")
                   for m in self.log_messages(function, key))
