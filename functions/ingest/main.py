"""Ingest function: Alertmanager webhook v4 and manual triggers → `incident.alert.received`."""

import functions_framework

from orchestrator.handler import guarded
from orchestrator.ingest.service import instance
from orchestrator.limits import read_body


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    ingest = instance()
    return guarded(lambda: ingest.handle(request.method, request.path, dict(request.headers),
                                         read_body(request, ingest.max_body)))
