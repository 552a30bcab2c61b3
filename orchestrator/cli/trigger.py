"""`orchestrator trigger ALERTNAME label=value…`: a manual alert to ingest, as `kn func invoke
--type incident.alert.manual` sends it, and `--resolved` to end the incident it opened.

An incident's key is the alert's label fingerprint plus its start, so a resolve must repeat the
start of the firing it ends: each firing's start is kept in the state folder per label set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from orchestrator.cli.local_state import state_dir


def register(sub: Any) -> None:
    from orchestrator.cli.local import _state_args

    tr = sub.add_parser("trigger", help="send a manual alert to ingest")
    tr.add_argument("alertname")
    tr.add_argument("labels", nargs="*", metavar="label=value")
    tr.add_argument("--annotation", action="append", default=[], metavar="key=value")
    tr.add_argument("--resolved", action="store_true",
                    help="resolve the incident an earlier trigger with the same labels fired")
    tr.add_argument("--starts-at", metavar="TIME",
                    help="the alert's start (ISO-8601); it is part of the incident key. "
                    "Default: now when firing; when resolving, the start this state folder "
                    "recorded for the same labels")
    tr.add_argument("--url", help="ingest URL (default: the one `up` wrote to the state folder)")
    tr.add_argument("--token", help="bearer token (default: INGEST_TOKEN or the state folder's)")
    _state_args(tr)
    tr.set_defaults(run=_trigger)



def _trigger(args: argparse.Namespace) -> int:
    import os
    import uuid
    from datetime import UTC, datetime

    import httpx

    from orchestrator.local.stack import load_secrets

    state = state_dir(args)
    up = json.loads((state / "up.json").read_text()) if (state / "up.json").exists() else {}
    url = args.url or up.get("ingest") or "http://127.0.0.1:8080/"
    token = args.token or os.environ.get("INGEST_TOKEN") or load_secrets(state)["ingest_token"]
    labels = dict(_pairs(args.labels))
    labels["alertname"] = args.alertname
    # The incident key is the labels' fingerprint plus startsAt: a resolve must repeat the
    # start of the firing it ends, so each firing's start is kept per label set.
    fired = _FiredTriggers(state / "triggers.json")
    starts = args.starts_at
    if args.resolved and not starts:
        starts = fired.start_of(labels)
        if starts is None:
            print(f"no firing trigger with exactly these labels was sent with state "
                  f"{state}: pass --starts-at, the start of the alert to resolve",
                  file=sys.stderr)
            return 2
    starts = starts or datetime.now(UTC).isoformat().replace("+00:00", "Z")
    data = {"labels": labels, "annotations": dict(_pairs(args.annotation)),
            "status": "resolved" if args.resolved else "firing", "startsAt": starts}
    headers = {"ce-specversion": "1.0", "ce-type": "incident.alert.manual",
               "ce-source": "/orchestrator/cli", "ce-id": str(uuid.uuid4()),
               "content-type": "application/json", "Authorization": f"Bearer {token}"}
    try:
        r = httpx.post(url, content=json.dumps(data), headers=headers, timeout=30,
                       trust_env=False)
    except httpx.HTTPError as e:
        print(f"ingest unreachable at {url}: {e} (is `orchestrator up` running?)",
              file=sys.stderr)
        return 1
    if r.status_code >= 300:
        print(f"refused (HTTP {r.status_code}): {r.text[:300]}", file=sys.stderr)
        return 1
    if args.resolved:
        fired.forget(labels)
    else:
        fired.remember(labels, starts)
    keys = r.json().get("incidents") or [] if r.content else []
    for key in keys:
        print(f"incident {key}: {data['status']}")
    if not keys:
        print(r.text)
    return 0


class _FiredTriggers:
    """The start of each firing manual trigger, by label set, in the state folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def _key(labels: dict[str, str]) -> str:
        return json.dumps(labels, sort_keys=True)

    def _load(self) -> dict[str, str]:
        found: dict[str, str] = json.loads(self.path.read_text()) if self.path.exists() else {}
        return found

    def _save(self, known: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(known))

    def start_of(self, labels: dict[str, str]) -> str | None:
        return self._load().get(self._key(labels))

    def remember(self, labels: dict[str, str], starts: str) -> None:
        self._save({**self._load(), self._key(labels): starts})

    def forget(self, labels: dict[str, str]) -> None:
        known = self._load()
        known.pop(self._key(labels), None)
        self._save(known)


def _pairs(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected key=value, got {item!r}")
        out.append((key, value))
    return out
