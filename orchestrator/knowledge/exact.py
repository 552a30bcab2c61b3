"""Exact matches: the strongest retrieval signals, checked before any scoring.

In order: the alertname listed in a runbook's `alerts`; the alert's `runbook_url` annotation
naming a runbook (its last path segment against the runbook's id or file name, case-insensitive,
as kube-prometheus lower-cases them); the alertname equal to a runbook's file name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from orchestrator.events import Alert

How = Literal["alerts", "runbook_url", "file_name"]


@dataclass(frozen=True)
class Entry:
    """What exact matching needs to know of one runbook."""

    id: str
    name: str
    alerts: tuple[str, ...]


def _url_path(url: str) -> list[str]:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return []
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if segments:
        segments[-1] = segments[-1].removesuffix(".md")
    # Hugo-style sites may also use a fragment for the runbook (`…/runbooks#KubePodNotReady`).
    if parts.fragment:
        segments.append(unquote(parts.fragment))
    return [s.lower() for s in segments]


def _by_url(url: str, entries: Sequence[Entry]) -> list[Entry]:
    segments = _url_path(url)
    if not segments:
        return []
    best: list[Entry] = []
    best_len = 0
    for e in entries:
        id_parts = e.id.lower().split("/")
        matched = 0
        if segments[-len(id_parts):] == id_parts:
            matched = len(id_parts)
        elif segments[-1] == e.name.lower():
            matched = 1
        if matched > best_len:
            best, best_len = [e], matched
        elif matched and matched == best_len:
            best.append(e)
    return best


def exact_matches(alert: Alert, entries: Sequence[Entry]) -> list[tuple[Entry, How]]:
    """Runbooks the alert names outright, strongest rule first, each runbook once."""
    name = alert.name.lower()
    out: list[tuple[Entry, How]] = []
    seen: set[str] = set()

    def add(found: Sequence[Entry], how: How) -> None:
        for e in sorted(found, key=lambda e: e.id):
            if e.id not in seen:
                seen.add(e.id)
                out.append((e, how))

    if name:
        add([e for e in entries if name in {a.lower() for a in e.alerts}], "alerts")
    url = alert.annotations.get("runbook_url") or alert.annotations.get("runbook") or ""
    if url:
        add(_by_url(url, entries), "runbook_url")
    if name:
        add([e for e in entries if e.name.lower() == name], "file_name")
    return out
