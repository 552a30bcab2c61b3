"""The dead-letter sink: what the broker gave up delivering is kept, shown, and can be re-sent.

A dead letter is any CloudEvent (not only `incident.` ones) plus the `knativeerrordest`,
`knativeerrorcode` and `knativeerrordata` extensions the broker adds. It is stored as received,
binary or structured, whatever its data (JSON or not), once per (event id, failed destination):
a sink redelivery changes nothing. Re-sending POSTs the original event, without the error
extensions, to the broker ingress, where every Trigger matching it sees it again (each function
is idempotent, so the ones that had already handled it do nothing new).

`/deadletter` takes no credential (only the broker reaches the cluster-local console), so what
one letter may cost is bounded: data past `max_data` bytes (and any attribute past 2 KiB) is
not kept, only its size, its digest and a preview, and such a letter is shown but cannot be
re-sent. Each letter has a small summary object keyed by its arrival time, so the list reads
one page of summaries, newest first, never the letters themselves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.adapters.broker import Publisher
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.cloudevent_http import binary_headers, read
from orchestrator.console.audit import read_object
from orchestrator.errors import PermanentError, TransientError
from orchestrator.limits import json_depth_exceeds

log = logging.getLogger(__name__)

PREFIX = "deadletters"
INDEX = "deadletter-index"
MAX_DATA_BYTES = 256 * 1024
MAX_ATTRIBUTE = 2048
PREVIEW = 4096
ERROR_CHARS = 1024
PAGE = 50
ERROR_EXTENSIONS = ("knativeerrordest", "knativeerrorcode", "knativeerrordata")


def parse(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    """Attributes and data bytes of a CloudEvent in binary or structured mode, read leniently
    (`cloudevent_http.read`): a dead letter is kept whenever it says what it is."""
    message = read(headers, body, lenient=True)
    return message.attributes, message.data


def letter_id(attrs: dict[str, str]) -> str:
    seed = f"{attrs.get('id')}|{attrs.get('knativeerrordest', '')}"
    return hashlib.sha256(seed.encode()).hexdigest()[:24]


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    """What the list shows of a letter: who, where, why, how big; never its data."""
    attrs: dict[str, str] = record["attributes"]
    error_data = attrs.get("knativeerrordata", "")
    try:
        error_text = base64.b64decode(error_data, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        error_text = error_data
    return {"id": record["id"], "received_at": record["received_at"],
            "type": attrs.get("type", ""), "event_id": attrs.get("id", ""),
            "source": attrs.get("source", ""), "incident_key": attrs.get("incidentkey", ""),
            "dest": attrs.get("knativeerrordest", ""), "code": attrs.get("knativeerrorcode", ""),
            "error": error_text[:ERROR_CHARS], "data_bytes": record.get("data_bytes", 0),
            "truncated": record.get("truncated", False), "resent": record.get("resent", [])}


def store_letter(store: ObjectStore, headers: dict[str, str], body: bytes, *,
                 now: datetime, max_data: int = MAX_DATA_BYTES) -> tuple[str, bool]:
    """Keep one dead letter (capped) and its summary; returns its id and whether this call
    stored it."""
    attrs, data = parse(headers, body)
    lid = letter_id(attrs)
    clipped = {k[:MAX_ATTRIBUTE]: v[:MAX_ATTRIBUTE] for k, v in list(attrs.items())[:64]}
    truncated = len(data) > max_data or clipped != attrs
    record: dict[str, Any] = {
        "id": lid, "received_at": now.isoformat(), "attributes": clipped,
        "data_base64": base64.b64encode(data[:PREVIEW] if truncated else data).decode(),
        "data_bytes": len(data), "data_sha256": hashlib.sha256(data).hexdigest(),
        "truncated": truncated, "resent": [],
        "summary": f"{INDEX}/{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{lid}.json"}
    written = store.put(f"{PREFIX}/{lid}.json", json.dumps(record).encode(), if_absent=True)
    if written:
        log.warning("dead letter %s: %s %s failed at %s with code %s%s", lid, clipped.get("type"),
                    clipped.get("id"), clipped.get("knativeerrordest", "?"),
                    clipped.get("knativeerrorcode", "?"),
                    f" ({len(data)} bytes of data, not kept whole)" if truncated else "")
    else:
        # A redelivery: the letter is there; its summary too, unless a crash came between.
        kept = get_letter(store, lid)
        if kept is None:
            return lid, False
        if not kept.get("summary"):  # kept before letters had summaries: give it one now
            kept["summary"] = record["summary"]
            store.put(f"{PREFIX}/{lid}.json", json.dumps(kept).encode())
        elif store.get(kept["summary"]) is not None:
            return lid, False
        record = kept
    store.put(record["summary"], json.dumps(_summary(record)).encode())
    return lid, written


def _view(record: dict[str, Any]) -> dict[str, Any]:
    """One stored dead letter in full: its summary, attributes, and data as JSON or text."""
    data = base64.b64decode(record["data_base64"])
    shown: Any
    try:
        whole = data and not record.get("truncated") and not json_depth_exceeds(data)
        shown = json.loads(data) if whole else None
    except ValueError:
        shown = None
    if shown is None and data:
        shown = data.decode("utf-8", "replace")
    return {**_summary(record), "attributes": record["attributes"], "data": shown}


@dataclass(frozen=True)
class Page:
    """Summaries of dead letters, newest first, and the cursor of the next (older) page."""

    letters: list[dict[str, Any]]
    next: str | None

    def as_json(self) -> dict[str, Any]:
        return {"deadletters": self.letters, "next": self.next}


def list_letters(store: ObjectStore, *, limit: int = PAGE, before: str | None = None) -> Page:
    """One page of summaries, newest first; `before` is the `next` cursor of the page above."""
    keys = store.list(f"{INDEX}/")
    if before is None and _summarize_older(store, keys):
        keys = store.list(f"{INDEX}/")
    if before:
        keys = [k for k in keys if k < f"{INDEX}/{before}"]
    page = keys[-limit:][::-1]
    letters, seen = [], set()
    for key in page:
        summary = read_object(store, key, _summary_of, "dead-letter summary")
        if summary is None:
            continue
        lid = summary["id"]
        if lid not in seen:
            seen.add(lid)
            letters.append(summary)
    more = len(keys) > limit
    return Page(letters, page[-1].removeprefix(f"{INDEX}/") if more and page else None)


def _summary_of(raw: bytes) -> dict[str, Any]:
    summary = json.loads(raw)
    if not isinstance(summary, dict) or "id" not in summary:
        raise TypeError("not a dead-letter summary (no id)")
    return summary


def _summarize_older(store: ObjectStore, index: list[str], most: int = PAGE) -> int:
    """Give letters kept before summaries existed a summary, a few per call (found from the key
    names alone: an index key ends with its letter's id). Returns how many it wrote."""
    summarized = {k.rsplit("-", 1)[-1].removesuffix(".json") for k in index}
    bare = [k for k in store.list(f"{PREFIX}/")
            if k.removeprefix(f"{PREFIX}/").removesuffix(".json") not in summarized][:most]
    written = 0
    for key in bare:
        record = get_letter(store, key.removeprefix(f"{PREFIX}/").removesuffix(".json"))
        if record is None or "attributes" not in record or "received_at" not in record:
            log.warning("unreadable dead letter %s", key)
            continue
        stamp = datetime.fromisoformat(record["received_at"]).strftime("%Y%m%dT%H%M%S.%fZ")
        record["summary"] = f"{INDEX}/{stamp}-{record['id']}.json"
        record.setdefault("data_bytes", len(base64.b64decode(record.get("data_base64", ""))))
        store.put(key, json.dumps(record).encode())
        store.put(record["summary"], json.dumps(_summary(record)).encode())
        written += 1
    return written


def show_letter(store: ObjectStore, lid: str) -> dict[str, Any]:
    """One dead letter in full, data included (404 when there is none)."""
    record = get_letter(store, lid)
    if record is None:
        raise PermanentError(f"no dead letter {lid!r}", status=404)
    return _view(record)


def get_letter(store: ObjectStore, lid: str) -> dict[str, Any] | None:
    if not lid.isalnum():
        return None
    raw = store.get(f"{PREFIX}/{lid}.json")
    return None if raw is None else json.loads(raw)


def resend(store: ObjectStore, publisher: Publisher | None, lid: str, *,
           now: datetime) -> dict[str, Any]:
    """POST the dead-lettered event to the broker again and note when."""
    record = get_letter(store, lid)
    if record is None:
        raise PermanentError(f"no dead letter {lid!r}", status=404)
    if record.get("truncated"):
        raise PermanentError(
            f"dead letter {lid} was too large to keep whole ({record.get('data_bytes')} bytes of "
            "data); only a preview is stored, so it cannot be re-sent: re-send it from its "
            "producer", status=409)
    if publisher is None:
        raise TransientError("no broker URL configured (K_SINK or CONSOLE_BROKER_URL)")
    attrs = {k: v for k, v in record["attributes"].items() if k not in ERROR_EXTENSIONS}
    headers = binary_headers({"datacontenttype": "application/json", **attrs})
    publisher.publish(headers, base64.b64decode(record["data_base64"]))
    record["resent"] = [*record.get("resent", []), now.isoformat()]
    store.put(f"{PREFIX}/{lid}.json", json.dumps(record).encode())
    if record.get("summary"):
        store.put(record["summary"], json.dumps(_summary(record)).encode())
    log.info("dead letter %s (%s %s) sent to the broker again", lid, attrs.get("type"),
             attrs.get("id"))
    return _view(record)
