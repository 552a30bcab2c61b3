"""The dead-letter sink: what the broker gave up delivering is kept, shown, and can be re-sent.

A dead letter is any CloudEvent (not only `incident.` ones) plus the `knativeerrordest`,
`knativeerrorcode` and `knativeerrordata` extensions the broker adds. It is stored as received,
binary or structured, whatever its data (JSON or not), once per (event id, failed destination):
a sink redelivery changes nothing. Re-sending POSTs the original event, without the error
extensions, to the broker ingress, where every Trigger matching it sees it again (each function
is idempotent, so the ones that had already handled it do nothing new).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from datetime import datetime
from typing import Any

from orchestrator.adapters.broker import Publisher
from orchestrator.adapters.objects import ObjectStore
from orchestrator.errors import PermanentError, TransientError
from orchestrator.limits import check_depth

log = logging.getLogger(__name__)

PREFIX = "deadletters"
ERROR_EXTENSIONS = ("knativeerrordest", "knativeerrorcode", "knativeerrordata")
_STRUCTURED = "application/cloudevents+json"


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def parse(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    """Attributes and data bytes of a CloudEvent in binary or structured mode, leniently."""
    h = _lower(headers)
    content_type = h.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == _STRUCTURED:
        check_depth(body)
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise PermanentError(f"structured CloudEvent is not JSON: {e}") from e
        if not isinstance(doc, dict):
            raise PermanentError("structured CloudEvent is not a JSON object")
        attrs = {k: str(v) for k, v in doc.items() if k not in ("data", "data_base64")}
        if "data_base64" in doc:
            try:
                data = base64.b64decode(str(doc["data_base64"]), validate=True)
            except (binascii.Error, ValueError) as e:
                raise PermanentError("data_base64 is not base64") from e
        elif "data" in doc:
            value = doc["data"]
            data = value.encode() if isinstance(value, str) else json.dumps(value).encode()
        else:
            data = b""
    else:
        attrs = {k[3:]: v for k, v in h.items() if k.startswith("ce-")}
        if content_type:
            attrs.setdefault("datacontenttype", content_type)
        data = body
    missing = [a for a in ("id", "type", "source") if not attrs.get(a)]
    if missing:
        raise PermanentError(f"not a CloudEvent: missing {', '.join(missing)}")
    return attrs, data


def letter_id(attrs: dict[str, str]) -> str:
    seed = f"{attrs.get('id')}|{attrs.get('knativeerrordest', '')}"
    return hashlib.sha256(seed.encode()).hexdigest()[:24]


def store_letter(store: ObjectStore, headers: dict[str, str], body: bytes, *,
                 now: datetime) -> tuple[str, bool]:
    """Keep one dead letter; returns its id and whether this call stored it."""
    attrs, data = parse(headers, body)
    lid = letter_id(attrs)
    record: dict[str, Any] = {"id": lid, "received_at": now.isoformat(), "attributes": attrs,
                              "data_base64": base64.b64encode(data).decode(), "resent": []}
    written = store.put(f"{PREFIX}/{lid}.json", json.dumps(record).encode(), if_absent=True)
    if written:
        log.warning("dead letter %s: %s %s failed at %s with code %s", lid, attrs.get("type"),
                    attrs.get("id"), attrs.get("knativeerrordest", "?"),
                    attrs.get("knativeerrorcode", "?"))
    return lid, written


def _view(record: dict[str, Any]) -> dict[str, Any]:
    """A stored dead letter as shown: data as JSON or text, the error body decoded."""
    attrs: dict[str, str] = record["attributes"]
    data = base64.b64decode(record["data_base64"])
    shown: Any
    try:
        shown = json.loads(data) if data else None
    except ValueError:
        shown = data.decode("utf-8", "replace")
    error_data = attrs.get("knativeerrordata", "")
    try:
        error_text = base64.b64decode(error_data, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        error_text = error_data
    return {"id": record["id"], "received_at": record["received_at"],
            "type": attrs.get("type", ""), "event_id": attrs.get("id", ""),
            "source": attrs.get("source", ""), "incident_key": attrs.get("incidentkey", ""),
            "dest": attrs.get("knativeerrordest", ""), "code": attrs.get("knativeerrorcode", ""),
            "error": error_text, "attributes": attrs, "data": shown,
            "resent": record.get("resent", [])}


def list_letters(store: ObjectStore, *, limit: int = 500) -> list[dict[str, Any]]:
    """Dead letters, newest first."""
    found = []
    for key in store.list(f"{PREFIX}/")[-5000:]:
        raw = store.get(key)
        if raw is None:
            continue
        try:
            found.append(_view(json.loads(raw)))
        except (ValueError, KeyError, binascii.Error) as e:
            log.warning("unreadable dead letter %s: %s", key, e)
    found.sort(key=lambda d: d["received_at"], reverse=True)
    return found[:limit]


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
    if publisher is None:
        raise TransientError("no broker URL configured (K_SINK or CONSOLE_BROKER_URL)")
    attrs = {k: v for k, v in record["attributes"].items() if k not in ERROR_EXTENSIONS}
    headers = {f"ce-{k}": v for k, v in attrs.items() if k != "datacontenttype"}
    headers["content-type"] = attrs.get("datacontenttype", "application/json")
    publisher.publish(headers, base64.b64decode(record["data_base64"]))
    record["resent"] = [*record.get("resent", []), now.isoformat()]
    store.put(f"{PREFIX}/{lid}.json", json.dumps(record).encode())
    log.info("dead letter %s (%s %s) sent to the broker again", lid, attrs.get("type"),
             attrs.get("id"))
    return _view(record)
