"""HTTP to the Kubernetes API server: the few requests the router's reads and the executor's
writes make, over the standard library.

The adapters send and read raw JSON, so of the `kubernetes` client they used only its
transport: `ApiClient.request` over urllib3, behind a package whose import chain (requests for
one proxy helper, urllib3, dateutil, multiprocessing's pool, plus the import surgery that kept
its ~700 models out) cost the router 0.33× a hello-world function's cold start when a cluster
is configured. `http.client` and `ssl` are already loaded by then. What this keeps of that
transport, each on purpose:

- TLS: the named CA (else the system's), a client certificate, `tls-server-name` for the
  certificate check and SNI, and the insecure flag (`insecure-skip-tls-verify`);
- the `Authorization` header asked for on every request, so a service-account token that the
  kubelet rotates is re-read (`TokenFile`);
- proxies as kubectl reads them (`kube_proxy`): the kubeconfig's `proxy-url`, else
  `HTTPS_PROXY` (or `HTTP_PROXY` for a plain-HTTP server) minus `NO_PROXY`; HTTPS goes through
  a CONNECT tunnel, so TLS stays end to end (an `https://` proxy URL is refused, saying so);
- a pool: idle connections kept for the next request (one per reader thread at most
  `pool_size`), a connection the server closed while idle noticed before it is reused;
- retries: a connection refused or reset while it opens is tried again at once, three times,
  and an idempotent request that a reused connection lost before any answer once more
  (a request that may have reached the server is not sent twice); a timeout is never
  retried here (a read that timed out may have been acted on; the broker retries a delivery,
  with its backoff). A timeout bounds the connect and then each wait for bytes, as urllib3's
  did: a server that stops sending fails the request, one that trickles is the Trigger
  timeout's to cut.

Nothing secret is printed: an endpoint's, a proxy's or a token file's `repr` leaves credentials
out, a proxy URL is reported by scheme, host and port only, and an `Authorization` value that
could not be sent is never quoted.

Non-2xx answers raise `kube_errors.from_status` (the API's own Status message kept); network
and TLS failures leave as `OSError` or `http.client.HTTPException`, which `kube.translated`
turns into `TransientError`.
"""

from __future__ import annotations

import http.client
import json
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from orchestrator.adapters.kube_errors import from_status
from orchestrator.adapters.kube_proxy import join, open_tunnel, proxy_for
from orchestrator.errors import PermanentError, TransientError

Timeout = float | tuple[float, float]
"""Seconds to connect and for each wait for bytes, or (connect, read)."""

CONNECT_RETRIES = 3
LINE_BREAKS = ("\r", "\n")
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of a refusal's body kept for its message."""


@dataclass(frozen=True)
class Fixed:
    """An `Authorization` header that does not change (a kubeconfig's token, user, none)."""

    value: str | None = field(default=None, repr=False)

    def __call__(self) -> str | None:
        return self.value


@dataclass(frozen=True)
class Endpoint:
    """Where the API server is and how to talk to it."""

    host: str
    """`https://host:port` (or `http://` for a local fake), no trailing slash."""
    ca_file: str | None = None
    """PEM file of the CA to trust; None: the system's CAs."""
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    tls_server_name: str | None = None
    """The name the server's certificate must carry, when not the host's."""
    proxy: str | None = field(default=None, repr=False)
    """The kubeconfig's `proxy-url`; None: the environment's, as kubectl reads it."""
    authorization: Callable[[], str | None] = field(default=Fixed(), repr=False)
    """The `Authorization` header's value, asked for on every request."""


@dataclass
class TokenFile:
    """`Bearer <token>` from a file, read again once `every` seconds have passed (the kubelet
    rotates a projected service-account token well before it expires)."""

    path: Path
    every: float = 60.0
    _token: str = field(default="", init=False, repr=False)
    _read_at: float = field(default=float("-inf"), init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __call__(self) -> str:
        with self._lock:
            if time.monotonic() - self._read_at >= self.every:
                token = self.path.read_text(encoding="utf-8").strip()
                if token:
                    self._token, self._read_at = token, time.monotonic()
                elif not self._token:  # not written yet: the broker retries
                    raise TransientError(f"token file {self.path} is empty")
                # else mid-rotation: the token read before still holds; read again next time
            return f"Bearer {self._token}"


class Response:
    """A 2xx answer whose body is still to be read, on a connection borrowed from the pool."""

    def __init__(self, server: ApiServer, conn: http.client.HTTPConnection,
                 answer: http.client.HTTPResponse) -> None:
        self._server, self._conn, self._answer = server, conn, answer
        self.status = answer.status

    def read(self) -> bytes:
        """The whole body; the connection goes back to the pool."""
        try:
            data = self._answer.read()
        except BaseException:
            self.close()
            raise
        self._server._give_back(self._conn, self._answer)
        return data

    def chunks(self, size: int = 16 * 1024) -> Iterator[bytes]:
        """The body as it arrives (a watch): whatever the server has sent, up to `size`."""
        while chunk := self._answer.read1(size):
            yield chunk

    def close(self) -> None:
        """Drop the connection: a stream left half-read must not be reused. (For a
        `Connection: close` answer the socket is the answer's, so both are closed.)"""
        self._answer.close()
        self._conn.close()


class ApiServer:
    """Requests to one API server, over a pool of connections."""

    def __init__(self, endpoint: Endpoint, *, pool_size: int = 16,
                 user_agent: str = "incident-orchestrator") -> None:
        self.endpoint = endpoint
        self.user_agent = user_agent
        url = urlsplit(endpoint.host)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"API server URL {endpoint.host!r} is not http(s)://host[:port]")
        self._tls = url.scheme == "https"
        self._host, self._port = url.hostname, url.port or (443 if self._tls else 80)
        self._prefix = url.path.rstrip("/")
        self._context = _tls_context(endpoint) if self._tls else None
        self._proxy = proxy_for(url.scheme, self._host, self._port, endpoint.proxy)
        self._idle: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue(
            maxsize=max(pool_size, 1))

    @property
    def host(self) -> str:
        return self.endpoint.host

    def open(self, method: str, path: str, what: str, *,
             query: list[tuple[str, str]] | None = None, headers: dict[str, str] | None = None,
             body: Any = None, timeout: Timeout = 10.0) -> Response:
        """Send one request; its 2xx answer, else the refusal as a `kube_errors` error."""
        connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout,
                                                                                      timeout)
        target = self._prefix + path + (f"?{urlencode(query)}" if query else "")
        sent = {"Accept": "application/json", "User-Agent": self.user_agent, **(headers or {})}
        if self._proxy is not None and not self._tls:
            target = f"http://{join(self._host, self._port)}{target}"  # absolute form
            sent.update(self._proxy.headers)
        authorization = self.endpoint.authorization()
        if authorization:
            if any(c in authorization for c in LINE_BREAKS):  # never quoted: it is a secret
                raise PermanentError("the Authorization header for the Kubernetes API holds a "
                                     "line break (a token file with two lines?)")
            sent["Authorization"] = authorization
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None:
            sent.setdefault("Content-Type", "application/json")
        refused = 0
        while True:
            conn, reused = self._take(connect_timeout)
            try:
                if not reused:
                    try:
                        conn.connect()
                    except (ConnectionRefusedError, ConnectionResetError):
                        if refused < CONNECT_RETRIES:  # nothing was sent: try again at once
                            refused += 1
                            conn.close()
                            continue
                        raise
                conn.sock.settimeout(read_timeout)
                conn.request(method, target, body=payload, headers=sent)
                answer = conn.getresponse()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                conn.close()
                if reused and method in IDEMPOTENT:
                    continue  # the server closed it while it sat idle: a fresh one
                raise
            except BaseException:
                conn.close()
                raise
            if 200 <= answer.status < 300:
                return Response(self, conn, answer)
            try:
                data = answer.read(ERROR_BODY_LIMIT)
            except BaseException:
                conn.close()
                raise
            if answer.isclosed():  # read to its end: the connection can serve another
                self._give_back(conn, answer)
            else:
                conn.close()
            raise from_status(answer.status, answer.reason, data, what)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    # ---- the pool ---------------------------------------------------------------------------

    def _take(self, connect_timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection the server has not closed, else a new one (not yet connected)."""
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return self._new(connect_timeout), False
            if conn.sock is not None and not _dropped(conn.sock):
                return conn, True
            conn.close()

    def _give_back(self, conn: http.client.HTTPConnection,
                   answer: http.client.HTTPResponse) -> None:
        if answer.will_close or conn.sock is None:
            conn.close()
            return
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()

    def _new(self, connect_timeout: float) -> http.client.HTTPConnection:
        if self._proxy is None:
            host, port = self._host, self._port
        else:
            host, port = self._proxy.host, self._proxy.port
        if self._context is None:
            return http.client.HTTPConnection(host, port, timeout=connect_timeout)
        conn = _TLSConnection(host, port, timeout=connect_timeout, context=self._context)
        conn.server_name = self.endpoint.tls_server_name or self._host
        if self._proxy is not None:
            conn.tunnel = (join(self._host, self._port), self._proxy.headers)
        return conn


class _TLSConnection(http.client.HTTPSConnection):
    """HTTPS whose certificate check and SNI use `server_name` (`tls-server-name`), through a
    proxy's CONNECT `tunnel` (target, headers) when one is set. The tunnel is opened here
    rather than by `set_tunnel`, which names an IPv6 target without brackets before Python
    3.11.9."""

    server_name: str
    tunnel: tuple[str, dict[str, str]] | None = None

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP, to the proxy when tunnelling
        if self.tunnel is not None:
            open_tunnel(self.sock, *self.tunnel)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            self.sock, server_hostname=self.server_name)


def _tls_context(endpoint: Endpoint) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=endpoint.ca_file)
    if not endpoint.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if endpoint.cert_file:
        context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
    return context


def _dropped(sock: socket.socket) -> bool:
    """Whether an idle connection was closed by the server (or has unread bytes, as bad)."""
    try:
        poller = select.poll()  # select.select fails for descriptors past 1023
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True
