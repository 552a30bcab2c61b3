"""The MCP side of the console's tests: the SDK's own client over streamable HTTP or stdio, and
personal tokens minted the way `orchestrator mcp --as` mints them."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from orchestrator.console.session import Sessions
from tests.functional.console_support import TOKEN

T = TypeVar("T")


def personal_token(name: str, *, lifetime: float = 3600.0) -> str:
    return Sessions(TOKEN, lifetime).issue(name, now=time.time())


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
