"""Ingest function: Alertmanager webhook v4 and manual triggers → `incident.alert.received`."""

import functions_framework

from orchestrator.ingest.service import instance


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    ingest = instance()
    body = request.stream.read(ingest.max_body + 1)
    return ingest.handle(request.method, request.path, dict(request.headers), body)
