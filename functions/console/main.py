"""Console function: audit log, dead letters (and, later, approvals and the web page)."""

import functions_framework

from orchestrator.console.service import handle_deadletter, handle_event
from orchestrator.handler import json_response, serve_event


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    if request.method == "GET" and request.path == "/healthz":
        return json_response(200, {"status": "ok"})
    if request.path == "/deadletter":
        return serve_event(dict(request.headers), request.get_data(), handle_deadletter)
    return serve_event(dict(request.headers), request.get_data(), handle_event)
