"""The MCP side of the console's tests: the SDK's own client over streamable HTTP. Personal
tokens are the console's CONSOLE_APPROVER_TOKENS of `console_support` (ALICE_TOKEN names the
allowlisted approver, MALLORY_TOKEN a known person who is not allowlisted, TOKEN the service)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

T = TypeVar("T")

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}}
"""A bare `initialize`, for tests that look at the HTTP answer rather than the session."""
ACCEPT = {"accept": "application/json, text/event-stream"}


@asynccontextmanager
async def http_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, trust_env=False, timeout=30) as http, \
            streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _), \
            ClientSession(read, write) as s:
        await s.initialize()
        yield s


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return anyio.run(fn)


def payload(result: Any) -> Any:
    """A tool result's JSON (its structured content when the SDK gives one)."""
    assert not result.isError, result.content
    if result.structuredContent is not None:
        return result.structuredContent
    return json.loads(result.content[0].text)


def error_text(result: Any) -> str:
    assert result.isError, result
    return " ".join(getattr(c, "text", "") for c in result.content)
