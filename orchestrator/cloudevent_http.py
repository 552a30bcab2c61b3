"""CloudEvents over HTTP, read and written one way for every edge of the loop.

Three readers of the same wire: the functions (`envelope.decode`: a valid CloudEvent whose data
is JSON), the local broker's ingress and its judging of replies (`local.wire`: any valid
CloudEvent, data kept as the exact bytes), and the console's dead-letter sink (lenient: what the
broker gave up on is kept whenever it says what it is, even with attributes a strict reader would
refuse). They share `read`; they differ only in how strict it is asked to be.

Header names are lowercased once, where a request enters (`lower_headers`); everything here and
behind it looks headers up by their lowercase name and never scans for a case-insensitive match.

Header values follow the HTTP binding (section 3.1.3.2): on the way out space, `"`, `%` and
anything outside printable ASCII are percent-encoded as UTF-8 bytes; on the way in a
double-quoted value is unquoted, then one round of percent-decoding applies and byte sequences
that are not UTF-8 are refused. So what a producer signs is what its consumer verifies.

Standard library only: this module is on every function's start path.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from orchestrator.errors import PermanentError
from orchestrator.limits import MAX_JSON_DEPTH, json_depth_exceeds

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REQUIRED = ("id", "source", "type")
HEADER_PREFIX = "ce-"

_NAME = re.compile(r"^[a-z0-9]+$")
_QUOTED_PAIR = re.compile(r"\\(.)")


class WireError(PermanentError):
    """The HTTP message is not a valid CloudEvent (HTTP 400, never retried)."""


@dataclass(frozen=True)
class Message:
    """One CloudEvent as carried: attribute values as strings, data as the bytes it came in."""

    attributes: dict[str, str]
    data: bytes
    binary: bool
    """Binary mode: `data` is the request body exactly as sent (what a signature covers)."""


def lower_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names lowercased, once, where a request enters. A name sent twice (in any case)
    keeps both values, comma-joined as HTTP combines repeated fields, so it cannot hide one."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """Whether data of this content type is JSON (no content type means JSON, as in CloudEvents)."""
    kind = (content_type or "application/json").split(";")[0].strip().lower()
    return kind in ("application/json", "text/json") or kind.endswith("+json")


def is_event(headers: Mapping[str, str]) -> bool:
    """Whether the message claims to be a CloudEvent, so that failing to read it is an error."""
    return HEADER_PREFIX + "specversion" in headers or media_type(headers) in (STRUCTURED, BATCH)


def read(headers: Mapping[str, str], body: bytes, *, lenient: bool = False) -> Message:
    """The CloudEvent an HTTP message carries, binary or structured; `headers` lowercased.

    Strict (the default) is the specification: specversion 1.0, the required attributes, names
    of lowercase letters and digits, attribute values of JSON's string, number or boolean kinds,
    header values that percent-decode to UTF-8. Lenient asks only for id, source and type, and
    keeps any other value as its text.
    """
    kind = media_type(headers)
    if kind == BATCH:
        raise WireError("batched CloudEvents are not supported; send one event per request")
    structured = kind == STRUCTURED
    parsed_later = not lenient and is_json(headers.get("content-type"))
    if (structured or parsed_later) and json_depth_exceeds(body):
        # Refused before any parser recurses into it: here, or whoever reads the data next
        # (a lenient reader keeps binary data as bytes and never parses it).
        raise WireError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels; refused unparsed")
    if structured:
        attrs, data = _structured(body, lenient=lenient)
    elif HEADER_PREFIX + "specversion" in headers:
        attrs = {name[len(HEADER_PREFIX):]: header_value_decoded(value, lenient=lenient)
                 for name, value in headers.items() if name.startswith(HEADER_PREFIX)}
        if "content-type" in headers:
            attrs["datacontenttype"] = headers["content-type"]
        data = body
    else:
        raise WireError(f"not a CloudEvent: no ce-specversion header and Content-Type is not "
                        f"{STRUCTURED}")
    _check(attrs, lenient=lenient)
    return Message(attrs, data, binary=not structured)


def _structured(body: bytes, *, lenient: bool) -> tuple[dict[str, str], bytes]:
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
        elif isinstance(value, str | int) or lenient:
            attrs[name] = str(value)
        else:
            raise WireError(f"attribute {name!r} must be a string, integer or boolean")
    if doc.get("data_base64") is not None:
        try:
            return attrs, base64.b64decode(str(doc["data_base64"]), validate=True)
        except (binascii.Error, ValueError) as e:
            raise WireError(f"data_base64 is not valid base64: {e}") from e
    if doc.get("data") is None:
        return attrs, b""
    data = doc["data"]
    # JSON event format: no datacontenttype means the data is JSON.
    attrs.setdefault("datacontenttype", "application/json")
    if isinstance(data, str) and not is_json(attrs["datacontenttype"]):
        return attrs, data.encode()
    return attrs, json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _check(attrs: Mapping[str, str], *, lenient: bool) -> None:
    missing = [name for name in REQUIRED if not attrs.get(name)]
    if missing:
        raise WireError(f"not a CloudEvent: missing required attribute(s) {', '.join(missing)}")
    if lenient:
        return
    if attrs.get("specversion") != "1.0":
        raise WireError(f"specversion must be 1.0, got {attrs.get('specversion')!r}")
    bad = [name for name in attrs if not _NAME.match(name)]
    if bad:
        raise WireError(f"attribute name {bad[0]!r} is not lowercase letters and digits")


def binary_headers(attributes: Mapping[str, str]) -> dict[str, str]:
    """Binary-mode headers: `ce-<name>` per attribute, its value percent-encoded where the
    binding says so; `datacontenttype` becomes Content-Type."""
    return {"content-type" if name == "datacontenttype" else HEADER_PREFIX + name:
            value if name == "datacontenttype" else header_value(value)
            for name, value in attributes.items()}


def attributes_of(headers: Mapping[str, str]) -> dict[str, str]:
    """The attributes binary-mode headers carry (lowercase names), decoded; no data, no checks."""
    return {name[len(HEADER_PREFIX):]: header_value_decoded(value, lenient=True)
            for name, value in headers.items() if name.startswith(HEADER_PREFIX)}


def _plain(c: str) -> bool:
    return 0x21 <= ord(c) <= 0x7E and c not in '"%'


def header_value(value: str) -> str:
    """Percent-encode space, `"`, `%` and anything outside printable ASCII (as UTF-8 bytes),
    so no attribute can split or forge a header."""
    if all(map(_plain, value)):
        return value
    return "".join(c if _plain(c) else "".join(f"%{b:02X}" for b in c.encode("utf-8", "replace"))
                   for c in value)


def header_value_decoded(value: str, *, lenient: bool = False) -> str:
    """The attribute a header value carries: a quoted string unquoted, then one round of
    percent-decoding. Bytes that are not UTF-8 are refused (kept as received when lenient)."""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = _QUOTED_PAIR.sub(r"\1", text[1:-1])
    if "%" not in text:
        return text
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError as e:
        if lenient:
            return value
        raise WireError(f"header value {value[:64]!r} does not percent-decode to UTF-8") from e
