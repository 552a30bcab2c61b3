"""Console function: the audit log, notifications, approvals (Slack, API, web), the dead-letter
sink, the sweep and the incident pages, routed by path to `orchestrator.console`. A console
with CONSOLE_SURFACE=public (the Service exposed outside the cluster) serves only the pages,
the API and Slack."""

import functions_framework

from orchestrator import startup  # noqa: F401  first: the collector skips what start-up makes
from orchestrator.cloudevent_http import is_event, lower_headers
from orchestrator.console.service import instance
from orchestrator.errors import OrchestratorError
from orchestrator.handler import error_response, json_response, serve_event
from orchestrator.limits import read_body
from orchestrator.sender import check_sender


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    if request.path in ("/healthz", "/health/liveness", "/health/readiness"):
        return json_response(200, {"status": "ok"})
    try:
        console = instance()
    except OrchestratorError as e:
        return error_response(e)
    headers, path = lower_headers(request.headers), request.path  # names lowercased once
    delivery = request.method == "POST" and (
        path == "/events" or (path == "/" and is_event(headers)))
    try:
        if delivery or path == "/deadletter":  # the broker's: Knative's token when configured
            check_sender("console", request)
        body = read_body(request, console.max_event_bytes)
    except OrchestratorError as e:
        return error_response(e)
    if console.surface == "public" and (delivery or path in ("/deadletter", "/sweep")):
        return json_response(404, {"error": f"{path} is not served by the public console: "
                                   "events, dead letters and sweeps go to the cluster-local one"})
    if delivery:
        return serve_event(headers, body, console.on_event, function="console")
    if path == "/deadletter":
        return console.on_deadletter(headers, body)
    if path == "/slack/interactivity":
        return console.on_slack(headers, body)
    if path == "/sweep" and request.method == "POST":
        return console.on_sweep(headers)
    # Pages, API and MCP load on their first call: a cold console woken by an event needs none.
    from orchestrator.console.request import Request

    req = Request(request.method, path, headers, body, request.args.to_dict())
    if path == "/mcp":
        from orchestrator.console.mcp import http  # the MCP SDK loads on the first call only

        return http.route(console, req)
    if path.startswith("/api/"):
        from orchestrator.console import api

        return api.route(console, req)
    from orchestrator.console import web

    return web.route(console, req)

