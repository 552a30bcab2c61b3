"""Deterministic identities: incident keys, event ids, label fingerprints.

Delivery is at-least-once everywhere, so the same input must always produce the same ids: a
redelivered webhook or event then produces events the audit log and the functions recognise.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_SEPARATOR = 0xFF
_UNSAFE = re.compile(r"[^a-z0-9-]+")


def label_fingerprint(labels: dict[str, str]) -> str:
    """The Alertmanager/Prometheus fingerprint of a label set (FNV-1a 64, sorted pairs).

    Manual triggers have no fingerprint of their own; computing the same one Alertmanager would
    makes a manual trigger and a real alert with the same labels the same incident.
    """
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name.encode(), labels[name].encode()):
            for byte in part + bytes([_SEPARATOR]):
                h ^= byte
                h = (h * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def incident_key(fingerprint: str, starts_at: datetime, cluster: str | None = None) -> str:
    """`[<cluster>-]<fingerprint>-<startsAt as YYYYmmddTHHMMSSZ>`: path- and header-safe.

    The same alert firing again later (a new startsAt) is a new incident; its resolution (same
    startsAt) belongs to the one it resolves.
    """
    stamp = starts_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    fp = _UNSAFE.sub("-", fingerprint.lower()).strip("-") or "nofingerprint"
    key = f"{fp}-{stamp}"
    if cluster:
        slug = _UNSAFE.sub("-", cluster.lower()).strip("-")[:48]
        if slug:
            key = f"{slug}-{key}"
    return key


def event_id(incident: str, stage: str, input_id: str) -> str:
    """Hash of incident key + stage + the id of the input that caused this event."""
    digest = hashlib.sha256(f"{incident}\x00{stage}\x00{input_id}".encode()).hexdigest()
    return digest[:32]
