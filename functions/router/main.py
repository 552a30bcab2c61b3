"""Router function: the thin HTTP edge of `orchestrator.orient` (see docs/architecture.md)."""

import functions_framework

from orchestrator import startup  # noqa: F401  first: the collector skips what start-up makes
from orchestrator.cloudevent_http import lower_headers
from orchestrator.handler import guarded, json_response, serve_event
from orchestrator.orient.service import handle_event
from orchestrator.sender import receive


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return json_response(200, {"status": "ok"})
    return guarded(lambda: serve_event(lower_headers(request.headers), receive("router", request),
                                       handle_event, function="router"))
