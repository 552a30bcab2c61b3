"""Bounds on one inbound request, the same in every function: body size and JSON nesting depth.

Every function reads its body through `read_body`, so no caller can make a function hold more
than its limit in memory (the default is 1 MiB: the largest event of the loop, an enriched
context, is capped at 32 KiB). A body over the limit is refused with 413 before it is read
whole. JSON is checked for depth before it is parsed (`check_depth`): Python's parser recurses
per level, and 100 000 nested brackets would raise RecursionError, a 500 that a sender such as
Alertmanager retries forever. 400 levels is far beyond any document of the loop (about 10).
"""

from __future__ import annotations

import functools
import io
import re
from itertools import accumulate
from typing import Protocol

from orchestrator.errors import PermanentError
from orchestrator.lifecycle import process_settings

MAX_JSON_DEPTH = 400

# After escapes are gone, a string is quote to quote (possibly unterminated at the end).
_STRING = re.compile(rb'"[^"]*"?')
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class Body(Protocol):
    """What `read_body` needs of a request (a Flask/werkzeug request has both)."""

    @property
    def content_length(self) -> int | None: ...

    stream: _Readable


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def too_large(limit: int) -> PermanentError:
    return PermanentError(f"request body exceeds {limit} bytes; this endpoint takes at most "
                          f"{limit} bytes", status=413)


def read_body(request: Body, limit: int) -> bytes:
    """The request body, refused with 413 when it exceeds `limit` bytes.

    A declared Content-Length over the limit is refused without reading; a body sent chunked
    (no length) is read up to one byte past the limit and no further, then or later.
    """
    declared = request.content_length
    if declared is None or declared <= limit:
        body = request.stream.read(limit + 1)
        if len(body) <= limit:
            return body
    # functions-framework reads the whole body after every response (`get_data()`, into
    # memory): hand it an empty stream instead. werkzeug's `stream` is a cached property, which
    # an assignment replaces. The server discards the unread rest in small chunks.
    request.stream = io.BytesIO()
    raise too_large(limit)


def json_depth_exceeds(body: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays/objects deeper than `limit`, found without parsing."""
    raw = body.encode() if isinstance(body, str) else body
    # Fast path: a document with few brackets cannot be deep.
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    # Escaped backslashes, then escaped quotes out, so every quote left delimits a string; then
    # everything but quotes and brackets out, then strings out, then the running depth: C loops
    # throughout (about 0.1 s for a MiB of bare brackets, the worst case; a 32 KiB context
    # takes about a millisecond).
    skeleton = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = _STRING.sub(b"", skeleton)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def check_depth(body: bytes | str, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse (400) JSON nested deeper than `limit` levels, before anything parses it."""
    if json_depth_exceeds(body, limit):
        raise PermanentError(f"JSON nested deeper than {limit} levels; refused unparsed")


@functools.cache
def body_limit(function: str) -> int:
    """The body limit of router, agent or executor: `max_body_bytes` of its settings class,
    read once per process (their services are built on the first event, after its body, from
    the same read: `lifecycle.process_settings`)."""
    if function == "router":
        from orchestrator.settings.router import RouterSettings

        return process_settings(RouterSettings).max_body_bytes
    if function == "agent":
        from orchestrator.settings.agent import AgentSettings

        return process_settings(AgentSettings).max_body_bytes
    if function == "executor":
        from orchestrator.settings.executor import ExecutorSettings

        return process_settings(ExecutorSettings).max_body_bytes
    raise ValueError(f"no body limit setting for {function!r}")
