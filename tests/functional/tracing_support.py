"""The local stack with every function exporting traces: the loop tests of tracing
(`test_tracing_loop.py`, `test_tracing_approval_loop.py`) start it the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from orchestrator.local.stack import Stack, StackOptions
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.otlp import Receiver

FUNCTIONS = ("ingest", "router", "agent", "executor", "console")
CLUSTER = "prod-eu-west-1"


@contextmanager
def traced_stack(tmp: Path, api: FakeKubeAPI, receiver: Receiver, *,
                 env: Mapping[str, Mapping[str, str]] | None = None) -> Iterator[Stack]:
    """The stack (broker + five function processes) acting on the fake API, every function
    exporting spans and metrics to `receiver` within a fraction of a second, and the router
    verifying within seconds; `env` adds settings per function."""
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_METRIC_EXPORT_INTERVAL": "200"}
    quick = {"router": {"ROUTER_VERIFY_TIMEOUT_SECONDS": "2", "ROUTER_VERIFY_SETTLE_SECONDS": "1"}}
    envs = {name: {**otel, **quick.get(name, {}), **(env or {}).get(name, {})}
            for name in FUNCTIONS}
    options = StackOptions(
        state=tmp / "state", enforce=True, cluster_name=CLUSTER, time_scale=0.05,
        kubeconfig=Path(api.write_kubeconfig(str(tmp / "kubeconfig"))), env=envs)
    with Stack(options) as stack:
        assert stack.broker is not None
        yield stack


def send_alert(stack: Stack, payload: dict[str, Any], traceparent: str) -> httpx.Response:
    """Alertmanager's webhook to ingest, as Alertmanager with tracing configured sends it: with
    its span's context as a `traceparent` header."""
    r = httpx.post(stack.ingest_url, json=payload, timeout=30, trust_env=False,
                   headers={"Authorization": f"Bearer {stack.secrets['ingest_token']}",
                            "traceparent": traceparent})
    assert r.status_code == 200, r.text  # every alert accepted
    return r
