"""`/mcp` on the console: MCP's streamable HTTP transport behind the API's bearer token.

The console is a WSGI function (functions-framework), the SDK's transport an ASGI app; the
server runs stateless with JSON responses (no session, no server-sent stream), so one HTTP
request is one complete exchange: it is handed to the SDK on an event loop of its own and the
answer collected. Nothing is kept between requests, as in every function here: any replica
answers any call, and the console still scales to zero.

Authentication comes before anything is parsed, by the API's own rule (`identity.py`): a
personal token (CONSOLE_APPROVER_TOKENS) names a person, who may approve or reject within the
allowlist; the service token authenticates but names nobody, so it may read and never decide.
A web login's session cookie is not a bearer token here, as it is not one for the API: an
assistant holds the person's own token, which the person can see and the operator can revoke.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from orchestrator.console.mcp.tools import Caller
from orchestrator.console.request import Request
from orchestrator.errors import OrchestratorError, PermanentError, TransientError
from orchestrator.handler import Response, error_response

if TYPE_CHECKING:
    from orchestrator.console.service import Console

log = logging.getLogger(__name__)

PATH = "/mcp"
MAX_BODY = 256 * 1024
EXCHANGE_SECONDS = 120.0


def caller_of(console: Console, headers: dict[str, str]) -> Caller:
    """Who the bearer token proves, as the console's API sees it (`identity.py`): a person's
    own token names that person; the service token reads and decides nothing. AuthError (401)
    for a missing or unknown token."""
    who = console.identify(headers)
    return Caller(who.name if who.is_person else None)


def route(console: Console, req: Request) -> Response:
    try:
        caller = caller_of(console, req.headers)
        if req.method != "POST":
            # GET would open a server-sent stream and DELETE end a session: a stateless server
            # has neither, and the transport's spec lets it say so with 405.
            return (b'{"error": "POST only: this MCP server is stateless, with no stream to '
                    b'open and no session to end"}', 405,
                    {"content-type": "application/json", "allow": "POST"})
        if len(req.body) > MAX_BODY:
            raise PermanentError("MCP request too large", status=413)
    except OrchestratorError as e:
        return error_response(e)
    from orchestrator.console.mcp import server

    with server.serving(console, caller):
        return _exchange(req)


def _exchange(req: Request) -> Response:
    """Run one HTTP request through the SDK's transport and collect its response."""
    import anyio
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from orchestrator.console.mcp import server

    mcp = server.build()
    status = 500
    headers: dict[str, str] = {}
    chunks: list[bytes] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": req.body, "more_body": False}
        await anyio.sleep_forever()  # the client stays connected until we have answered
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for k, v in message.get("headers", []):
                headers[k.decode("latin-1").lower()] = v.decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": req.method, "scheme": "http", "path": PATH, "raw_path": PATH.encode(),
             "root_path": "", "query_string": b"", "server": ("console", 80),
             "client": ("127.0.0.1", 0),
             "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                         for k, v in req.headers.items()]}

    async def one() -> None:
        # A manager per request: stateless, so nothing is lost, and `run()` may start once.
        manager = StreamableHTTPSessionManager(app=mcp._mcp_server, json_response=True,
                                               stateless=True,
                                               security_settings=mcp.settings.transport_security)
        # A bound, so that nothing the SDK might wait for can hold this worker for good.
        with anyio.fail_after(EXCHANGE_SECONDS):
            async with manager.run():
                await manager.handle_request(scope, receive, send)  # type: ignore[arg-type]

    try:
        anyio.run(one)
    except TimeoutError:
        log.error("an MCP exchange took longer than %.0f s; answered 503", EXCHANGE_SECONDS)
        return error_response(TransientError(f"MCP request took longer than "
                                             f"{EXCHANGE_SECONDS:.0f} s"))
    headers.pop("content-length", None)
    return b"".join(chunks), status, headers
