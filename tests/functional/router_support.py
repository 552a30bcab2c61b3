"""Helpers for the router's tests: a fake cluster with its nodes, alerts, and the real reader."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from orchestrator.adapters.kube_reads import KubeReader
from orchestrator.context import ClusterContext
from orchestrator.envelope import Event
from orchestrator.events import Alert, AlertReceived, ContextEnriched
from orchestrator.orient.core import orient
from orchestrator.settings.router import RouterSettings
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI


def fake_api() -> Iterator[FakeKubeAPI]:
    """Body of each test module's `api` fixture: a running fake that must not have crashed."""
    with FakeKubeAPI() as fake:
        yield fake
        assert fake.server_errors == [], fake.server_errors


def with_nodes(api: FakeKubeAPI, *names: str) -> None:
    """Scenarios schedule pods on nodes they do not create; a real cluster has them."""
    for name in names or ("node-1",):
        if api.get("Node", None, name) is None:
            api.add(ko.node(name))


def alert(labels: dict[str, str], *, status: str = "firing",
          annotations: dict[str, str] | None = None, fingerprint: str = "f00dfeed") -> Alert:
    return Alert(status=status, labels={"alertname": "TestAlert", **labels},  # type: ignore[arg-type]
                 annotations=annotations or {}, starts_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                 fingerprint=fingerprint)


def pod_alert(scenario: ko.Scenario, role: str = "pod", **extra: str) -> Alert:
    pod = scenario[role]
    return alert({"namespace": pod["metadata"]["namespace"], "pod": pod["metadata"]["name"],
                  **extra})


def settings(**overrides: Any) -> RouterSettings:
    return RouterSettings(**overrides)


def enrich(api: FakeKubeAPI, a: Alert, *, test: bool = False, **overrides: Any) -> ContextEnriched:
    """Run the router's real `orient` against the fake, through the real kubernetes client."""
    out = orient(received=AlertReceived(incident_key="inc-1", alert=a, test=test),
                 input_id="in-1", reads=KubeReader(api.server()), source="kubeconfig",
                 settings=settings(**overrides))
    assert isinstance(out.data, ContextEnriched)
    return out.data


def context(api: FakeKubeAPI, a: Alert, **overrides: Any) -> ClusterContext:
    return enrich(api, a, **overrides).context


def event(type_: str, data: Any, *, id_: str = "evt-1", **extensions: str) -> Event:
    """A decoded CloudEvent as the handler receives it (data as JSON, like the wire)."""
    payload = json.loads(data.model_dump_json()) if hasattr(data, "model_dump_json") else data
    return Event(type=type_, id=id_, source="/test", data=payload, extensions=extensions)


def api_calls(api: FakeKubeAPI) -> list[str]:
    """`METHOD path?query` of every request the fake received, in order."""
    return [f"{r.method} {r.path}?{'&'.join(f'{k}={v}' for k, v in sorted(r.query.items()))}"
            for r in api.requests]
