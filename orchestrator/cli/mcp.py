"""`orchestrator mcp`: the console's MCP server over stdio, for desktop and IDE assistants.

A bridge, not a second server: every tool call, resource read and listing is forwarded to the
console's `/mcp` with the caller's token, so the tools, the audit log they read and the approval
path they decide through are the console's own, wherever it runs (`orchestrator up` on this
machine, or the cluster's public console). Nothing here holds the console's signing key.

`--as NAME` mints a personal token from the API token (what the console's web login does), so
decisions carry NAME, checked against the console's allowlist; without it, a token that names
nobody can read and not decide.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("mcp", help="serve the console's incidents, runbooks and approvals to an "
                       "MCP assistant over stdio")
    p.add_argument("--console", help="console URL (default: the one `up` wrote, else "
                   "http://127.0.0.1:8090)")
    p.add_argument("--token", help="console API token or a personal token (default: "
                   "CONSOLE_API_TOKEN or the state folder's)")
    p.add_argument("--as", dest="person", help="act as this approver: mint a personal token "
                   "from the API token (decisions need one)")
    p.add_argument("--print-token", action="store_true",
                   help="print the personal token for --as and exit (for HTTP MCP clients)")
    p.add_argument("--state", type=Path, help="state folder of `orchestrator up`")
    p.set_defaults(run=_run)


def personal_token(api_token: str, person: str, *, now: float) -> str:
    """A token naming `person`, signed as the console signs its web logins, expiring with them."""
    from orchestrator.console.session import Sessions
    from orchestrator.settings.console import ConsoleSettings

    hours = ConsoleSettings().session_hours
    return Sessions(api_token, hours * 3600).issue(person.strip(), now=now)


def _run(args: argparse.Namespace) -> int:
    import time

    from orchestrator.cli.incidents import _state, _token

    state = _state(args)
    up = state / "up.json"
    url = args.console or (json.loads(up.read_text()).get("console") if up.exists() else None) \
        or "http://127.0.0.1:8090"
    token = args.token or _token(state)
    if not token:
        print("no console token: pass --token or set CONSOLE_API_TOKEN", file=sys.stderr)
        return 2
    if args.person:
        token = personal_token(token, args.person, now=time.time())
    if args.print_token:
        if not args.person:
            print("--print-token needs --as NAME", file=sys.stderr)
            return 2
        print(token)
        return 0
    import anyio
    import httpx

    failed: list[BaseException] = []
    try:
        anyio.run(bridge, f"{url.rstrip('/')}/mcp", token)
    except* httpx.HTTPError as group:
        failed.extend(group.exceptions)
    if failed:
        print(f"console MCP endpoint unreachable or refusing at {url}: {failed[0]}",
              file=sys.stderr)
        return 1
    return 0


async def bridge(url: str, token: str) -> None:
    """Serve stdio, forwarding every request to the MCP server at `url`."""
    import httpx
    from mcp import ClientSession, types
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.lowlevel import Server
    from mcp.server.lowlevel.helper_types import ReadResourceContents
    from mcp.server.stdio import stdio_server

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, trust_env=False,
                                 timeout=httpx.Timeout(30.0, read=120.0)) as http, \
            streamable_http_client(url, http_client=http) as (read, write, _), \
            ClientSession(read, write) as remote:
        hello = await remote.initialize()
        server: Server[Any, Any] = Server(hello.serverInfo.name, instructions=hello.instructions)

        @server.list_tools()  # type: ignore[no-untyped-call,untyped-decorator]
        async def list_tools() -> list[types.Tool]:
            return (await remote.list_tools()).tools

        # The console validates arguments itself; checking here too would only duplicate it.
        @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
        async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
            return await remote.call_tool(name, arguments)

        @server.list_resources()  # type: ignore[no-untyped-call,untyped-decorator]
        async def list_resources() -> list[types.Resource]:
            return (await remote.list_resources()).resources

        @server.list_resource_templates()  # type: ignore[no-untyped-call,untyped-decorator]
        async def list_templates() -> list[types.ResourceTemplate]:
            return (await remote.list_resource_templates()).resourceTemplates

        @server.read_resource()  # type: ignore[no-untyped-call,untyped-decorator]
        async def read_resource(uri: Any) -> list[ReadResourceContents]:
            got = await remote.read_resource(uri)
            return [ReadResourceContents(content=c.text if isinstance(c, types.TextResourceContents)
                                         else c.blob, mime_type=c.mimeType)
                    for c in got.contents]

        async with stdio_server() as (stdin, stdout):
            await server.run(stdin, stdout, server.create_initialization_options())
