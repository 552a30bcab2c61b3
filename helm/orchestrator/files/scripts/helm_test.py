"""`helm test`: one synthetic manual alert through the deployed loop, without side effects.

Sends an `incident.alert.manual` CloudEvent marked `"test": true` to ingest (token in the data, as
`kn func invoke` would), then polls the console's API until the incident's audit log holds both
ingest's `incident.alert.received` and the router's answer to it. A test alert never reaches an
LLM or a workload: the functions honour the `test` flag. Standard library only.

Environment: INGEST_URL, CONSOLE_URL, INGEST_TOKEN_FILE, API_TOKEN_FILE, NAMESPACE,
TIMEOUT_SECONDS.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROUTER_SOURCE = "/orchestrator/router"
ROUTER_TYPES = {"incident.context.enriched", "incident.resolved", "incident.escalated"}


def _secret(env: str) -> str:
    return Path(os.environ[env]).read_text(encoding="utf-8").strip()


def _request(req: urllib.request.Request, timeout: float) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (cluster URLs)
            body = resp.read()
            return resp.status, json.loads(body) if body else None
    except urllib.error.HTTPError as e:
        return e.code, None


def send_trigger(ingest_url: str, token: str, namespace: str, run: str) -> str:
    """POST the test alert; returns the incident key ingest assigned to it."""
    data = {
        "labels": {"alertname": "OrchestratorHelmTest", "namespace": namespace,
                   "severity": "none", "helm_test_run": run},
        "annotations": {"summary": "helm test: a synthetic alert, nothing will be changed"},
        "test": True,
        "token": token,
    }
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-type": "incident.alert.manual",
        "ce-source": "/orchestrator/helm-test",
        "ce-id": run,
        "ce-time": datetime.now(UTC).isoformat(),
    }
    req = urllib.request.Request(  # noqa: S310 (the chart's own http:// Service URLs)
        ingest_url, data=json.dumps(data).encode(), headers=headers, method="POST")
    status, body = _request(req, timeout=60)
    if status != 200 or not isinstance(body, dict) or not body.get("incidents"):
        raise SystemExit(f"FAIL: ingest answered {status} {body!r} to the test trigger")
    key: str = body["incidents"][0]
    print(f"ingest accepted the test alert as incident {key}", flush=True)
    return key


def events_of(doc: Any) -> list[dict[str, Any]]:
    """Every object in the console's answer that looks like an audit record (has a `type`)."""
    found: list[dict[str, Any]] = []
    if isinstance(doc, dict):
        if isinstance(doc.get("type"), str):
            found.append(doc)
        for value in doc.values():
            found.extend(events_of(value))
    elif isinstance(doc, list):
        for value in doc:
            found.extend(events_of(value))
    return found


def reached_router(events: list[dict[str, Any]]) -> bool:
    received = any(e["type"] == "incident.alert.received" for e in events)
    answered = any(
        e.get("source") == ROUTER_SOURCE
        or (e["type"] == "incident.context.enriched")
        or (e["type"] in ROUTER_TYPES and e.get("stage") == "router")
        for e in events
    )
    return received and answered


def wait_for_audit(console_url: str, token: str, key: str, deadline: float) -> None:
    url = f"{console_url.rstrip('/')}/api/incidents/{key}"
    delay = 1.0
    last = "no answer yet"
    while True:
        req = urllib.request.Request(  # noqa: S310 (the chart's own http:// Service URLs)
            url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        status, body = _request(req, timeout=30)
        if status in (401, 403):
            raise SystemExit(f"FAIL: the console refused the API token ({status})")
        if status == 200:
            events = events_of(body)
            if reached_router(events):
                types = sorted({e["type"] for e in events})
                print(f"the audit log of {key} shows the router's answer: {types}", flush=True)
                return
            last = f"audit log has {sorted({e['type'] for e in events})}"
        else:
            last = f"console answered {status}"
        if time.monotonic() + delay > deadline:
            raise SystemExit(f"FAIL: no router answer in the audit log of {key} in time ({last})")
        time.sleep(delay)
        delay = min(delay * 2, 10.0)


def main() -> int:
    deadline = time.monotonic() + float(os.environ.get("TIMEOUT_SECONDS", "180"))
    run = f"helm-test-{uuid.uuid4().hex[:12]}"
    key = send_trigger(os.environ["INGEST_URL"], _secret("INGEST_TOKEN_FILE"),
                       os.environ.get("NAMESPACE", "default"), run)
    wait_for_audit(os.environ["CONSOLE_URL"], _secret("API_TOKEN_FILE"), key, deadline)
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
