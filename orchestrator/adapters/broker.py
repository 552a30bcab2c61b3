"""Posting CloudEvents to the broker ingress (Knative's, or the local one) over plain HTTP.

Built on `http.client` rather than an HTTP library: ingest's cold start pays for every import,
and one keep-alive connection per thread is all this needs.
"""

from __future__ import annotations

import http.client
import logging
import threading
from typing import Protocol
from urllib.parse import urlsplit

from orchestrator.errors import TransientError

log = logging.getLogger(__name__)

_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class Publisher(Protocol):
    """Anything that can take a binary-mode CloudEvent and make the broker accept it."""

    def publish(self, headers: dict[str, str], body: bytes) -> None: ...


class HttpPublisher:
    """POSTs binary-mode CloudEvents to a broker ingress URL; 2xx means durably accepted."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"broker URL must be http(s)://host[:port]/path, got {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path or "/"
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def publish(self, headers: dict[str, str], body: bytes) -> None:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                resp = conn.getresponse()
                detail = resp.read(512)
            except _STALE as e:
                # A keep-alive connection the server closed meanwhile: one fresh try.
                self._drop()
                if attempt == 2:
                    raise TransientError(f"broker connection lost: {e}") from e
                continue
            except OSError as e:
                self._drop()
                raise TransientError(f"broker unreachable at {self._host}: {e}") from e
            except BaseException:
                # Any other failure mid-request leaves the connection unusable for the next one.
                self._drop()
                raise
            if resp.will_close:
                self._drop()
            if 200 <= resp.status < 300:
                return
            text = detail.decode("utf-8", "replace")
            log.warning("broker refused event: HTTP %s %s", resp.status, text[:200])
            raise TransientError(f"broker answered HTTP {resp.status}: {text[:200]}", status=502)
        raise TransientError("broker connection lost")

    def close(self) -> None:
        self._drop()
