"""HTTP plumbing of the simulated kube-apiserver: the threaded server, request log, watch streams.

One thread per connection (HTTP/1.1 keep-alive, like client connection pools expect); every
connection is tracked so ``down()``/``stop()`` can cut them and join their threads.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from . import rbac, rest, watch, wire
from .errors import JSON, ApiError

if TYPE_CHECKING:
    from .api import SimAPI

T = TypeVar("T")

REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


@dataclass
class RecordedRequest:
    """One request as the fake received it. ``headers`` keys are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it was not JSON, or None
    content_type: str | None
    raw_body: bytes = b""
    injected_status: int | None = None  # set when fail() answered this request
    time: float = field(default_factory=time.monotonic)

    @property
    def dry_run(self) -> bool:
        opts = self.body.get("deleteOptions", self.body) if isinstance(self.body, dict) else {}
        return self.query.get("dryRun") == "All" or "All" in (opts.get("dryRun") or [])


@dataclass
class Fault:
    method: str | None
    pattern: re.Pattern[str]
    status: int
    remaining: int | None
    reason: str
    message: str
    details: JSON | None = None
    hits: int = 0


@dataclass
class Delay:
    method: str | None
    pattern: re.Pattern[str]
    seconds: float
    remaining: int | None
    hits: int = 0
    body: bool = False
    """Hold the body, not the request: headers go out at once, the body `seconds` later."""


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.005,
               message: str = "condition not met") -> T:
    """Poll ``predicate`` until it returns something truthy, or raise ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} within {timeout}s")
        time.sleep(interval)




class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: SimAPI) -> None:
        self.fake = fake
        self.wake = threading.Event()  # set on down()/stop(): ends delays and watches
        self.abrupt = True  # down(): cut watch streams; stop(): end them cleanly
        self.conns: dict[socket.socket, threading.Thread] = {}
        self.conns_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        t = threading.Thread(target=self._serve_conn, args=(request, client_address),
                             name="fake-kube-conn", daemon=True)
        with self.conns_lock:
            self.conns[request] = t
        t.start()

    def _serve_conn(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except (OSError, ValueError):
            pass  # client went away / socket shut by down()
        finally:
            self.shutdown_request(request)
            with self.conns_lock:
                self.conns.pop(request, None)

    def close_connections(self, timeout: float = 5.0) -> None:
        with self.conns_lock:
            conns = list(self.conns.items())
        for sock, _ in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in conns:
            thread.join(max(0.0, deadline - time.monotonic()))


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
"""The HTTP methods the simulated API server answers."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server
    _headers_buffer: list[bytes]

    def setup(self) -> None:
        super().setup()
        # headers and body are separate writes: without this, Nagle + delayed ACK cost 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def __getattr__(self, name: str) -> Callable[[], None]:
        """http.server calls `do_<METHOD>`: every method the API speaks goes to `_handle`, any
        other is refused by http.server itself (501)."""
        method = name.removeprefix("do_")
        if name.startswith("do_") and method in METHODS:
            return lambda: self._handle(method)
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        fake, server = self.server.fake, self.server
        url = urlsplit(self.path)
        query_list = parse_qsl(url.query, keep_blank_values=True)
        raw = self._read_body()
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip() or None
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        record = RecordedRequest(method, url.path, dict(query_list),
                                 {k.lower(): v for k, v in self.headers.items()}, body,
                                 content_type, raw)
        fake._record(record)
        delay = fake._take_rule(fake._delays, method, url.path)
        if delay is not None and not delay.body and server.wake.wait(delay.seconds):
            self.close_connection = True  # server going down: drop the request
            return
        self._body_delay = delay.seconds if delay is not None and delay.body else 0.0
        fault = fake._take_rule(fake._faults, method, url.path)
        if fault is not None:
            record.injected_status = fault.status
            err = ApiError(fault.status, fault.reason, fault.message, fault.details)
            self._send(wire.error_response(err))
            return
        req = wire.Request(method, url.path, dict(query_list), query_list, content_type, body)
        try:
            rbac.check(fake.denials, method, url.path, req.query)
            result = rest.dispatch(fake.store, req, f"127.0.0.1:{fake.port}")
        except ApiError as err:
            result = wire.error_response(err)
        except Exception as exc:  # noqa: BLE001 - a bug in the simulator: answer 500, remember it
            fake.server_errors.append(traceback.format_exc())
            result = wire.error_response(ApiError(500, "InternalError", f"fake: {exc!r}"))
        if isinstance(result, wire.WatchRequest):
            self._stream_watch(result)
        else:
            self._send(result)

    def _send(self, resp: wire.Response) -> None:
        self.send_response(resp.code)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self._headers_buffer.append(b"\r\n")  # end_headers(), sent with the body in one write
        head, self._headers_buffer = b"".join(self._headers_buffer), []
        stall = getattr(self, "_body_delay", 0.0)
        if stall:
            self.wfile.write(head)
            self.wfile.flush()
            if self.server.wake.wait(stall):
                self.close_connection = True
                return
            head = b""
        self.wfile.write(head + resp.body)

    # ---- watch ------------------------------------------------------------------------------

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except OSError:
            return True

    def _stream_watch(self, w: wire.WatchRequest) -> None:
        fake, store, server = self.server.fake, self.server.fake.store, self.server
        deadline = time.monotonic() + w.timeout
        next_bookmark = time.monotonic() + fake.bookmark_interval
        with store.lock:
            events: list[JSON] = []
            if w.resource_version in (None, "", "0"):
                cursor = store.resource_version
                events = [{"type": "ADDED", "object": o} for o in store.objects(w.rt, w.namespace)
                          if w.matches(o)]
            elif not w.resource_version.isdigit():
                self._send(wire.error_response(ApiError(
                    400, "BadRequest", f"invalid resource version: {w.resource_version}")))
                return
            else:
                cursor = int(w.resource_version)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        with fake._watch_cond:
            fake._watchers += 1
            fake._watch_cond.notify_all()
        try:
            while True:
                for event in events:
                    self._chunk(json.dumps(event, separators=(",", ":")).encode() + b"\n")
                changes = store.changes_since(cursor)
                if changes is None:
                    expired = watch.expired_event(str(cursor), store.resource_version)
                    self._chunk(json.dumps(expired).encode() + b"\n")
                    break
                events = [e for e in (watch.watch_event(w, c) for c in changes) if e]
                cursor = changes[-1].rv if changes else cursor
                if events:
                    continue
                now = time.monotonic()
                if w.bookmarks and now >= next_bookmark:
                    events, next_bookmark = [watch.bookmark_event(w, cursor)], now + \
                        fake.bookmark_interval
                    continue
                remaining = deadline - now
                if remaining <= 0 or server.wake.is_set() or store.closed or self._client_gone():
                    break
                store.wait_for_change(cursor, min(remaining, 0.1, max(next_bookmark - now, 0)))
            if server.wake.is_set() and server.abrupt:
                self.close_connection = True  # like a dying apiserver: no terminating chunk
            else:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        finally:
            with fake._watch_cond:
                fake._watchers -= 1
                fake._watch_cond.notify_all()


