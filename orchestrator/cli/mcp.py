"""`orchestrator mcp`: the console's MCP server over stdio, for desktop and IDE assistants.

A bridge, not a second server: every tool call, resource read and listing is forwarded to the
console's `/mcp` with the caller's token, so the tools, the audit log they read and the approval
path they decide through are the console's own, wherever it runs (`orchestrator up` on this
machine, or the cluster's public console). Nothing here holds the console's signing key.

Decisions are made with the person's own token, exactly as `orchestrator approve` makes them:
`--token-file` (or `--token`), else the personal token `orchestrator up` made for this machine's
user. Nothing here mints a token: a token that names nobody (the console's service token) reads
and never decides, and the bridge says so when it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("mcp", help="serve the console's incidents, runbooks and approvals to an "
                       "MCP assistant over stdio")
    p.add_argument("--console", help="console URL (default: the one `up` wrote, else "
                   "http://127.0.0.1:8090)")
    p.add_argument("--token", help="your personal token (it decides who approves; prefer "
                   "--token-file, a command line is visible to other users)")
    p.add_argument("--token-file", type=Path,
                   help="file holding your personal token (default: the one `up` generated "
                   "for this machine's user, in the state folder)")
    p.add_argument("--state", type=Path, help="state folder of `orchestrator up`")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from orchestrator.cli.local_state import console_access

    url, token = console_access(args)
    import anyio
    import httpx

    failed: list[BaseException] = []
    try:
        anyio.run(bridge, f"{url}/mcp", token)
    except* httpx.HTTPError as group:
        failed.extend(group.exceptions)
    if failed:
        print(f"console MCP endpoint unreachable or refusing at {url}: {failed[0]}",
              file=sys.stderr)
        return 1
    return 0


def greeting(who: dict[str, Any]) -> str:
    """What the bridge tells its user on start: who its token is, and whether they may decide."""
    person = who.get("person")
    if not person:
        return ("orchestrator mcp: this token names nobody (the console's service token?): "
                "read-only, approve and reject will be refused. Decide with your personal token "
                "(--token-file).")
    if not who.get("allowed"):
        return (f"orchestrator mcp: connected as {person}, who is not on the console's approver "
                "allowlist: approve and reject will be refused.")
    return f"orchestrator mcp: connected as {person}; approve and reject act in that name."


async def _announce(remote: Any) -> None:
    """Print `greeting` on stderr (a stdio server's log, never its protocol stream)."""
    from mcp import types

    result = await remote.call_tool("who_am_i", {})
    if result.isError:  # a console older than the tool: nothing to say
        return
    who = result.structuredContent
    if who is None and result.content and isinstance(result.content[0], types.TextContent):
        who = json.loads(result.content[0].text)
    print(greeting(who or {}), file=sys.stderr, flush=True)


async def bridge(url: str, token: str) -> None:
    """Serve stdio, forwarding every request to the MCP server at `url`."""
    import anyio
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
        await _announce(remote)
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

        # Copies of the standard descriptors: the SDK's own wrappers close sys.stdout's buffer
        # when collected, and the CLI's last flush would then fail with a traceback at exit.
        with open(os.dup(0), encoding="utf-8", errors="replace") as raw_in, \
                open(os.dup(1), "w", encoding="utf-8") as raw_out:
            async with stdio_server(anyio.wrap_file(raw_in), anyio.wrap_file(raw_out)) as \
                    (stdin, stdout):
                await server.run(stdin, stdout, server.create_initialization_options())
