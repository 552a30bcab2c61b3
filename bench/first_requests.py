"""What each function's first request is in the cold-start benchmarks, and the environment it
needs: one place, so bench/suite.py and bench/cold_start.py time the same work.

Each request is what the function meets first in the loop, signed by the producer it expects:
a webhook POST for ingest, the signed event its Trigger delivers for router, agent and executor,
a broker delivery for the console. The environment names no cluster (an unreadable kubeconfig),
no LLM key and a loopback broker stand-in (`sink`), and carries every function's signing key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT
from orchestrator.context import ClusterContext, ObjectRef
from orchestrator.envelope import Outgoing
from orchestrator.events import (
    ALERT_RECEIVED,
    CONTEXT_ENRICHED,
    PLAN_PROPOSED,
    Alert,
    AlertReceived,
    ContextEnriched,
    PlanProposed,
)
from orchestrator.local.keyring import ensure_keyring, key_env
from orchestrator.plan import Action, Citation, Plan
from orchestrator.provenance import signer_from_pem

PAYLOAD = json.loads((ROOT / "tests/events/alertmanager_crashloop.json").read_text())
FUNCTIONS = ("ingest", "router", "agent", "executor", "console")
Request = Callable[[httpx.Client, str], httpx.Response]


def _alert() -> Alert:
    raw = PAYLOAD["alerts"][0]
    return Alert(status="firing", labels=raw["labels"], annotations=raw["annotations"],
                 starts_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
                 fingerprint=raw["fingerprint"])


def _event(keys: Path, producer: str, type_: str, data: Any) -> tuple[dict[str, str], bytes]:
    """An event as its producer signs it (every function verifies who sent what)."""
    signer = signer_from_pem(producer, (keys / f"{producer}.key").read_text())
    return signer.encode(Outgoing(type=type_, id="bench-1", function=producer,
                                  incident_key="k", data=data))


def expect(path: str, headers: dict[str, str], body: bytes, ok: tuple[int, ...]) -> Request:
    """A POST that counts as answered only with one of the `ok` statuses."""
    def request(client: httpx.Client, url: str) -> httpx.Response:
        r = client.post(url + path, content=body, headers=headers)
        if r.status_code not in ok:
            raise RuntimeError(f"{path}: HTTP {r.status_code} {r.text[:200]}")
        return r
    return request


def hello(client: httpx.Client, url: str) -> httpx.Response:
    return client.get(url + "/").raise_for_status()


def first_requests(work: Path, sink: str) -> tuple[dict[str, str], dict[str, Request]]:
    """The environment (no `OTEL_*` variable: export off) and each function's first request."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
           "INGEST_TOKEN": "bench", "INGEST_BROKER_URL": sink,
           "KB_QDRANT_PATH": str(work / "qdrant"), "AGENT_AUDIT_DIR": str(work / "audit"),
           "CONSOLE_AUDIT_DIR": str(work / "audit"), "CONSOLE_API_TOKEN": "bench",
           "KUBECONFIG": str(work / "no-kubeconfig")}
    keys = work / "keys"
    ensure_keyring(keys)
    for fn in FUNCTIONS:
        env.update(key_env(keys, fn))
    alert = _alert()
    plan = Plan(plan_id="p", incident_key="k", fingerprint=alert.fingerprint, hypothesis="bench",
                confidence=0.6, citations=[Citation(runbook="k8s_crashloop")], model="offline",
                actions=[Action(type="delete_pod", target=ObjectRef(
                    kind="Pod", namespace="payments", name="checkout-7d9f8b6c5-x2k4q"))],
                created_at=datetime.now(UTC))
    alert_received = _event(keys, "ingest", ALERT_RECEIVED,
                            AlertReceived(incident_key="k", alert=alert))
    requests = {
        "ingest": expect("/", {"Authorization": "Bearer bench",
                               "content-type": "application/json"},
                         json.dumps(PAYLOAD).encode(), (200,)),
        "router": expect("/", *alert_received, ok=(200,)),
        "agent": expect("/", *_event(keys, "router", CONTEXT_ENRICHED, ContextEnriched(
            incident_key="k", alert=alert, context=ClusterContext())), ok=(200,)),
        "executor": expect("/", *_event(keys, "agent", PLAN_PROPOSED, PlanProposed(
            incident_key="k", alert=alert, plan=plan)), ok=(200,)),
        "console": expect("/events", *alert_received, ok=(202,)),
    }
    return env, requests
