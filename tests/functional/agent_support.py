"""Helpers for the agent's functional tests: a real indexed Qdrant store, the real
functions-framework app of functions/agent/main.py, and audit records as the console writes them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

import orchestrator.decide.service as service
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.adapters.vectors import QdrantStore
from orchestrator.audit_layout import plan_copy_key
from orchestrator.events import CONTEXT_ENRICHED, PLAN_PROPOSED, ContextEnriched, PlanProposed
from orchestrator.knowledge.index import index_runbooks
from orchestrator.resources import runbooks_dir
from tests import keys

ROOT = Path(__file__).resolve().parents[2]
_CLEARED = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL",
            "KB_EMBEDDING_API_KEY", "KB_QDRANT_URL", "KB_MINIO_ENDPOINT", "KB_EMBEDDING_MODEL")


def build_index(path: Path) -> Path:
    """Index the packaged runbooks into a local Qdrant store at `path` and release it."""
    store = QdrantStore.connect(path=path)
    try:
        index_runbooks(source=runbooks_dir(), store=store, collection="runbooks")
    finally:
        store.close()
    return path


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes = b""

    @property
    def type(self) -> str:
        return self.headers.get("ce-type", "")

    def proposed(self) -> PlanProposed:
        assert self.type == PLAN_PROPOSED, (self.status, self.headers, self.body)
        return PlanProposed.model_validate(self.body)


class AgentClient:
    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, ev: ContextEnriched, *, event_id: str = "router-event-1") -> Reply:
        ce = CloudEvent({"type": CONTEXT_ENRICHED, "source": "/orchestrator/router",
                         "id": event_id, "subject": ev.incident_key,
                         "incidentkey": ev.incident_key},
                        ev.model_dump(mode="json"))
        headers, body = to_binary(ce)
        r = self.client.post("/", headers=keys.seal(headers, body), data=body)
        data = json.loads(r.data) if r.data else None
        return Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, data, r.data)


@contextmanager
def agent_app(monkeypatch: pytest.MonkeyPatch, *, qdrant: Path, audit: Path | None,
              env: dict[str, str] | None = None) -> Iterator[AgentClient]:
    """The agent's real app with these settings; its process-wide wiring is closed after."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("AGENT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KB_QDRANT_PATH", str(qdrant))
    if audit is not None:
        monkeypatch.setenv("AGENT_AUDIT_DIR", str(audit))
    for k, v in {**keys.env("agent"), **(env or {})}.items():
        monkeypatch.setenv(k, v)
    service.instance.reset()
    app = functions_framework.create_app(target="handle",
                                         source=str(ROOT / "functions/agent/main.py"),
                                         signature_type="http")
    try:
        yield AgentClient(app.test_client())
    finally:
        service.instance.reset()


def record_plan(store: ObjectStore, proposed: PlanProposed, *, event_id: str) -> str:
    """Write the copy of a `plan.proposed` audit record the console keeps per fingerprint."""
    plan = proposed.plan
    key = plan_copy_key(plan.fingerprint, plan.created_at, event_id)
    record = {"id": event_id, "type": PLAN_PROPOSED, "source": "/orchestrator/agent",
              "subject": proposed.incident_key, "time": plan.created_at.isoformat(),
              "incidentkey": proposed.incident_key, "partitionkey": "x",
              "data": proposed.model_dump(mode="json")}
    assert store.put(key, json.dumps(record).encode(), if_absent=True)
    return key
