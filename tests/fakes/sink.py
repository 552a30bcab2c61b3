"""A recording HTTP endpoint that answers like a broker ingress (202) or however a test scripts it.

Used where a test needs the far side of a real HTTP POST but not a whole broker.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakes.serving import QuietHandler, serve_in_thread


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Sink:
    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def respond_with(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (then 202 again)."""
        self.statuses.extend(statuses)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.received) >= n, timeout):
                raise AssertionError(f"expected {n} requests, got {len(self.received)}")
            return list(self.received)


@contextmanager
def running_sink() -> Iterator[Sink]:
    sink: Sink

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with sink.cond:
                status = sink.statuses.pop(0) if sink.statuses else 202
                if status < 300:
                    sink.received.append(Received(self.path, dict(self.headers), body))
                sink.cond.notify_all()
            self.reply(status)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink = Sink(url=f"http://127.0.0.1:{server.server_address[1]}/")
    with serve_in_thread(server):
        yield sink
