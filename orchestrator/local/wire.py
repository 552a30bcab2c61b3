"""CloudEvents over HTTP for the broker: the ingress, parsing, rendering, judging answers.

The broker keeps each event as its attributes plus the exact data bytes, so a delivery carries the
bytes the producer sent (binary mode, like the Kafka broker, which stores records in binary mode).
Parsing is done here rather than with the SDK's `from_http` because the SDK re-serialises data,
and because the broker needs a strict yes/no on "is this response a CloudEvent", which decides
between success, reply and failure exactly as eventing-kafka-broker's response handler does.

Header values are passed through unchanged (no percent-decoding), as the cloudevents 1.x Python SDK
the functions use does; only characters HTTP headers cannot carry are percent-encoded on the way
out.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from orchestrator.errors import PermanentError, TransientError
from orchestrator.limits import MAX_JSON_DEPTH, json_depth_exceeds

logger = logging.getLogger(__name__)

TTL_EXTENSION = "knativebrokerttl"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REQUIRED = ("id", "source", "type")
# The Kafka dispatcher retries these and 5xx; other failures go to the dead-letter sink at once.
RETRYABLE_STATUS = frozenset({404, 408, 409, 429})
# Knative's KnativeErrorDataExtensionMaxLength: how much of a failed response the DLS event keeps.
ERROR_DATA_MAX = 1024

_NAME = re.compile(r"^[a-z0-9]+$")
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


class WireError(ValueError):
    """The HTTP message is not a valid CloudEvent."""


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


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def looks_like_event(headers: Mapping[str, str]) -> bool:
    """True when the message claims to be a CloudEvent (so failing to parse it is an error)."""
    return "ce-specversion" in headers or media_type(headers) in (STRUCTURED, BATCH)


def parse(headers: Mapping[str, str], body: bytes) -> WireEvent:
    """Parse a binary- or structured-mode CloudEvent; `headers` must have lowercase names."""
    kind = media_type(headers)
    if kind == BATCH:
        raise WireError("batched CloudEvents are not supported; send one event per request")
    if (kind == STRUCTURED or is_json(headers.get("content-type"))) and json_depth_exceeds(body):
        # Parsed here and again by whoever reads the event: refused before any parser recurses.
        raise WireError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if kind == STRUCTURED:
        attrs, data = _structured(body)
    elif "ce-specversion" in headers:
        attrs = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
        if "content-type" in headers:
            attrs["datacontenttype"] = headers["content-type"]
        data = body
    else:
        raise WireError("not a CloudEvent: no ce-specversion header and Content-Type is not "
                        f"{STRUCTURED}")
    return _validated(attrs, data)


def _structured(body: bytes) -> tuple[dict[str, str], bytes]:
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise WireError(f"structured CloudEvent is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise WireError("structured CloudEvent must be a JSON object")
    attrs: dict[str, str] = {}
    for name, value in doc.items():
        if name in ("data", "data_base64") or value is None:
            continue
        if isinstance(value, bool):
            attrs[name] = "true" if value else "false"
        elif isinstance(value, str | int):
            attrs[name] = str(value)
        else:
            raise WireError(f"attribute {name!r} must be a string, integer or boolean")
    if doc.get("data_base64") is not None:
        try:
            return attrs, base64.b64decode(str(doc["data_base64"]), validate=True)
        except (binascii.Error, ValueError) as e:
            raise WireError(f"data_base64 is not valid base64: {e}") from e
    if "data" not in doc or doc["data"] is None:
        return attrs, b""
    data = doc["data"]
    if "datacontenttype" not in attrs:
        # JSON event format: no datacontenttype means the data is JSON.
        attrs["datacontenttype"] = "application/json"
    if isinstance(data, str) and not is_json(attrs["datacontenttype"]):
        return attrs, data.encode()
    return attrs, json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _validated(attrs: dict[str, str], data: bytes) -> WireEvent:
    if attrs.get("specversion") != "1.0":
        raise WireError(f"specversion must be 1.0, got {attrs.get('specversion')!r}")
    missing = [name for name in REQUIRED if not attrs.get(name)]
    if missing:
        raise WireError(f"missing required attribute(s): {', '.join(missing)}")
    bad = [name for name in attrs if not _NAME.match(name)]
    if bad:
        raise WireError(f"attribute name {bad[0]!r} is not lowercase letters and digits")
    ttl = None
    if TTL_EXTENSION in attrs:
        raw = attrs.pop(TTL_EXTENSION)
        try:
            ttl = int(raw)
        except ValueError as e:
            raise WireError(f"{TTL_EXTENSION} must be an integer, got {raw!r}") from e
    return WireEvent(attributes=attrs, body=data, ttl=ttl)


def binary_headers(attributes: Mapping[str, str]) -> dict[str, str]:
    """Binary-mode headers for an event: `ce-<name>` per attribute, Content-Type for the data."""
    headers = {}
    for name, value in attributes.items():
        plain = value.isascii() and value.isprintable()
        text = value if plain else quote(value, safe=_HEADER_SAFE)
        headers["content-type" if name == "datacontenttype" else f"ce-{name}"] = text
    return headers


def is_json(content_type: str | None) -> bool:
    kind = (content_type or "application/json").split(";")[0].strip().lower()
    return kind in ("application/json", "text/json") or kind.endswith("+json")


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
    answer = lower_headers(response.headers)
    if looks_like_event(answer):
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
