"""The local broker's side of CloudEvents over HTTP: stored events, delivery, judging answers.

The broker keeps each event as its attributes plus the exact data bytes, so a delivery carries the
bytes the producer sent (binary mode, like the Kafka broker, which stores records in binary mode).
Reading and writing the wire is `orchestrator.cloudevent_http`'s; what is the broker's own is the
TTL extension and a strict yes/no on "is this response a CloudEvent", which decides between
success, reply and failure exactly as eventing-kafka-broker's response handler does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from orchestrator.cloudevent_http import WireError, is_event, is_json, lower_headers, read
from orchestrator.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)

TTL_EXTENSION = "knativebrokerttl"
# The Kafka dispatcher retries these and 5xx; other failures go to the dead-letter sink at once.
RETRYABLE_STATUS = frozenset({404, 408, 409, 429})
# Knative's KnativeErrorDataExtensionMaxLength: how much of a failed response the DLS event keeps.
ERROR_DATA_MAX = 1024

@dataclass(frozen=True)
class WireEvent:
    """A CloudEvent as stored: attributes (strings, without the broker TTL) and raw data bytes."""

    attributes: dict[str, str]
    body: bytes
    ttl: int | None = None

    @property
    def id(self) -> str:
        return self.attributes["id"]

    @property
    def type(self) -> str:
        return self.attributes["type"]


def parse(headers: Mapping[str, str], body: bytes) -> WireEvent:
    """A CloudEvent read strictly (`cloudevent_http.read`), the broker's TTL taken out of it;
    `headers` lowercased. Raises WireError (a PermanentError, 400)."""
    message = read(headers, body)
    attrs = message.attributes
    ttl = None
    if TTL_EXTENSION in attrs:
        raw = attrs.pop(TTL_EXTENSION)
        try:
            ttl = int(raw)
        except ValueError as e:
            raise WireError(f"{TTL_EXTENSION} must be an integer, got {raw!r}") from e
    return WireEvent(attributes=attrs, body=message.data, ttl=ttl)


def decode_data(attributes: Mapping[str, str], body: bytes) -> Any:
    """The event's data for people and the runner: JSON when it is JSON, else text."""
    if not body:
        return None
    if is_json(attributes.get("datacontenttype")):
        try:
            return json.loads(body)
        except ValueError:
            pass
    return body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Outcome:
    """What one HTTP delivery attempt came to, classified like the Kafka dispatcher does."""

    ok: bool
    retryable: bool
    code: int | None
    detail: str
    error_data: bytes = b""
    reply: WireEvent | None = None


def send(client: httpx.Client, url: str, headers: Mapping[str, str], body: bytes, *,
         timeout: float, max_reply: int) -> Outcome:
    """POST one event and classify the answer; never raises for HTTP or network trouble."""
    try:
        response = client.post(url, headers=dict(headers), content=body, timeout=timeout)
    except httpx.TimeoutException as e:
        text = f"timed out after {timeout:g}s ({type(e).__name__})"
        return Outcome(False, True, None, text, text.encode())
    except httpx.HTTPError as e:
        text = f"{type(e).__name__}: {e}"
        return Outcome(False, True, None, text, text.encode()[:ERROR_DATA_MAX])
    content, code = response.content, response.status_code
    head = content[:ERROR_DATA_MAX]
    if code >= 300:
        retryable = code in RETRYABLE_STATUS or code >= 500
        return Outcome(False, retryable, code, f"HTTP {code}", head)
    answer = lower_headers(response.headers.multi_items())
    if is_event(answer):
        if len(content) > max_reply:
            return Outcome(False, False, code, f"reply larger than {max_reply} bytes", head)
        try:
            return Outcome(True, False, code, f"HTTP {code} with a reply",
                           reply=parse(answer, content))
        except WireError as e:
            return Outcome(False, False, code, f"Unable to decode response: {e}", head)
    if content:
        return Outcome(False, False, code,
                       "Unable to decode response: a non-empty body that is not a CloudEvent",
                       head)
    return Outcome(True, False, code, f"HTTP {code}")


class IngressServer(ThreadingHTTPServer):
    """The broker's HTTP ingress: `POST /` or `POST <path>` publishes, `GET /healthz` answers.

    `publish(headers, body)` must raise PermanentError/TransientError for what it refuses; the
    202 goes out only after it returns, that is after the event is stored.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, publish: Callable[[dict[str, str], bytes], int],
                 path: str, max_body: int) -> None:
        self.publish, self.broker_path, self.max_body = publish, path, max_body
        super().__init__(address, _Ingress)


class _Ingress(BaseHTTPRequestHandler):
    server: IngressServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if urlsplit(self.path).path == "/healthz":
            self._answer(200, b"ok\n")
        else:
            self._answer(404, b"not found\n")

    def do_POST(self) -> None:  # noqa: N802
        server = self.server
        if urlsplit(self.path).path.rstrip("/") not in ("", server.broker_path):
            self._answer(404, f"no broker at {self.path}; POST to / or {server.broker_path}\n"
                         .encode())
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._answer(411, b"Content-Length required\n")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._answer(400, b"invalid Content-Length\n")
            return
        if length > server.max_body:
            # The body is left unread, so this connection cannot be reused.
            self.close_connection = True
            self._answer(413, f"event larger than {server.max_body} bytes\n".encode())
            return
        body = self.rfile.read(length)
        try:
            server.publish(dict(self.headers.items()), body)
        except (PermanentError, TransientError) as e:
            self._answer(e.status, f"{e}\n".encode())
        else:
            self._answer(202, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (base signature)
        logger.debug("broker ingress: " + format, *args)
