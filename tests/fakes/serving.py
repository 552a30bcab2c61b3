"""How every fake runs and how every test waits: one loopback server thread, one way to answer,
one deadline poll.

The fakes (sink, Gemini, OpenAI, Slack, the OIDC issuer, the OTLP receiver) and the tests' own
small servers all run a `http.server` on a thread the same way (httpx's `serve_in_thread`), answer
through one `QuietHandler.reply`, and all wait on what has no notification to wait on with
`wait_until`: poll a condition, fail the test at a deadline saying what never happened. No fixed
sleeps.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from socketserver import BaseServer
from typing import Any, TypeVar

T = TypeVar("T")


@contextmanager
def serve_in_thread(server: BaseServer, *, poll_interval: float = 0.05,
                    then: Callable[[], None] | None = None) -> Iterator[str]:
    """Serve `server` on a thread until the block ends, then shut it down, close it and join the
    thread. Yields its loopback URL (`http://127.0.0.1:PORT`). `then` runs on the serving thread
    once it stops, for what that thread alone holds (a thread-local connection)."""
    def run() -> None:
        try:
            server.serve_forever(poll_interval=poll_interval)
        finally:
            if then is not None:
                then()

    thread = threading.Thread(target=run, name=f"serve-{type(server).__name__}", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]  # type: ignore[misc]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class QuietHandler(BaseHTTPRequestHandler):
    """A fake's request handler: answers through `reply`, and logs nothing (a failing test says
    what went wrong; a log line per request would bury it)."""

    def reply(self, status: int, body: bytes = b"", *, content_type: str | None = None,
              headers: Mapping[str, str] | None = None) -> None:
        """The whole answer: status, the content type when given, `headers`, the length, body."""
        self.send_response(status)
        if content_type is not None:
            self.send_header("content-type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def reply_json(self, status: int, doc: object,
                   headers: Mapping[str, str] | None = None) -> None:
        self.reply(status, json.dumps(doc).encode(), content_type="application/json",
                   headers=headers)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass


def wait_until(condition: Callable[[], T], *, timeout: float = 10.0,
               what: str | Callable[[], str] = "the condition", every: float = 0.1) -> T:
    """Poll `condition` until it returns something truthy, and return that; at the deadline fail
    the test saying what never happened (`what`, or what it returns then: the state to show).
    A condition may itself fail at once (an assertion on a process that exited) rather than wait
    out the deadline.

    The first polls come quickly (5 ms) and slow down to `every`: a condition that holds soon is
    seen soon, and a long wait on a real server (Prometheus, a process) does not hammer it."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        value = condition()
        if value:
            return value
        left = deadline - time.monotonic()
        if left < 0:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {said}")
        time.sleep(min(pause, left))
        pause = min(pause * 2, every)


def free_port() -> int:
    """A loopback port nothing listens on now (for a server started later, or one that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True
