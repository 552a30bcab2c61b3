"""Executor function: the thin HTTP edge of `orchestrator.act` (see docs/architecture.md)."""

import functions_framework

from orchestrator.act.service import handle_event
from orchestrator.handler import json_response, serve_event


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return json_response(200, {"status": "ok"})
    return serve_event(dict(request.headers), request.get_data(), handle_event)
