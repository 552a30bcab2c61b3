"""Router function: the thin HTTP edge of `orchestrator.orient` (see docs/architecture.md)."""

import functions_framework

from orchestrator.handler import guarded, json_response, serve_event
from orchestrator.limits import body_limit, read_body
from orchestrator.orient.service import handle_event


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return json_response(200, {"status": "ok"})
    return guarded(lambda: serve_event(dict(request.headers),
                                       read_body(request, body_limit("router")), handle_event,
                                       function="router"))
