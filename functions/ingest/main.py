"""Ingest function: Alertmanager webhook v4 and manual triggers → `incident.alert.received`."""

import functions_framework

from orchestrator import startup  # noqa: F401  first: the collector skips what start-up makes
from orchestrator.cloudevent_http import lower_headers
from orchestrator.handler import guarded
from orchestrator.ingest.service import instance
from orchestrator.limits import read_body
from orchestrator.telemetry import stage


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    ingest = instance()
    headers = lower_headers(request.headers)  # once, where the request enters
    if request.method != "POST":  # health checks: no trace
        return guarded(lambda: ingest.handle(request.method, request.path, headers, b""))
    with stage("ingest", headers=headers) as span:  # where the incident's trace starts
        response = guarded(lambda: ingest.handle(request.method, request.path, headers,
                                                 read_body(request, ingest.max_body)))
        span.http_status(response[1])
        return response
