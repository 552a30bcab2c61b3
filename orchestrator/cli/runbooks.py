"""`orchestrator runbooks index|search`: hydrate the knowledge base, and ask it what applies.

`index` is what the Helm init Job and `orchestrator up` run before the agent starts; `search`
runs the agent's own retrieval for one recorded Alertmanager payload, so an SRE can see which
runbook an alert would get (or that it would get none) without running the loop.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from orchestrator.events import Alert

_BAR = 30


def register(sub: Any) -> None:
    rb = sub.add_parser("runbooks", help="index the runbooks, or search them for an alert")
    cmds = rb.add_subparsers(dest="runbooks_command", required=True)

    ix = cmds.add_parser("index", help="raw files to the object store, chunks to Qdrant")
    ix.add_argument("--source", type=Path, help="markdown folder (default: KB_RUNBOOKS_DIR)")
    ix.add_argument("--store", type=Path,
                    help="local Qdrant folder (default: KB_QDRANT_URL, else KB_QDRANT_PATH)")
    ix.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    ix.set_defaults(run=_index)

    se = cmds.add_parser("search", help="rank the runbooks for an alert: by name and labels "
                         "(`search KubePodCrashLooping namespace=shop pod=api-1`) or from a "
                         "payload (--alert)")
    se.add_argument("alertname", nargs="?", help="the alert's name (instead of --alert)")
    se.add_argument("labels", nargs="*", metavar="label=value", help="more labels of the alert")
    se.add_argument("--annotation", action="append", default=[], metavar="key=value",
                    help="an annotation of the alert (e.g. runbook_url=...); repeatable")
    se.add_argument("--alert", type=Path, metavar="PAYLOAD.json",
                    help="Alertmanager webhook payload, or one alert object ('-' for stdin)")
    se.add_argument("--store", type=Path, help="local Qdrant folder (as for index)")
    se.add_argument("--source", type=Path,
                    help="raw runbooks, read when the index is unavailable")
    se.add_argument("--top", type=int, default=5, help="at most this many runbooks (default 5)")
    se.add_argument("--json", action="store_true", help="print a JSON list")
    se.set_defaults(run=_search)


class _ProgressBar:
    """A one-line bar on a terminal; elsewhere (the chart's index Job, CI) one plain line per
    runbook, so `kubectl logs` shows how far hydration got."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int, label: str) -> None:
        if total <= 0:
            return
        if not self.enabled:
            self.stream.write(f"indexed {done}/{total} {label}\n")
            self.stream.flush()
            return
        filled = _BAR * done // total
        bar = "#" * filled + "-" * (_BAR - filled)
        self.stream.write(f"\r\x1b[2Kindexing [{bar}] {done}/{total} {label[:40]}")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def _settings(args: argparse.Namespace) -> Any:
    from orchestrator.settings.knowledge import KnowledgeSettings

    settings = KnowledgeSettings.from_env()
    if getattr(args, "source", None):
        settings = settings.model_copy(update={"runbooks_dir": args.source})
    return settings


def _index(args: argparse.Namespace) -> int:
    from orchestrator import logs
    from orchestrator.errors import OrchestratorError
    from orchestrator.knowledge import wiring
    from orchestrator.knowledge.index import index_runbooks

    logs.setup("WARNING")
    settings = _settings(args)
    try:
        store = wiring.connect_store(settings, path=args.store)
        try:
            report = index_runbooks(
                source=settings.runbooks_dir, store=store, collection=settings.collection,
                objects=wiring.object_store(settings), embedder=wiring.embedder(settings),
                progress=None if args.quiet else _ProgressBar(sys.stderr),
            )
        finally:
            store.close()
    except OrchestratorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if e.status < 500 else 1
    if not args.quiet:
        print(report.summary())
    return 0


def _read_alert(path: Path) -> Alert:
    from orchestrator.errors import PermanentError
    from orchestrator.ingest.alertmanager import parse_alert, parse_webhook

    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        doc = json.loads(text)
    except (OSError, ValueError) as e:
        raise PermanentError(f"cannot read {path}: {e}") from e
    if isinstance(doc, dict) and "alerts" in doc:
        hook = parse_webhook(doc)
        if not hook.alerts:
            reason = hook.rejected[0].error if hook.rejected else "no alerts"
            raise PermanentError(f"{path}: no usable alert ({reason})")
        return hook.alerts[0]
    if isinstance(doc, dict) and isinstance(doc.get("alert"), dict):
        doc = doc["alert"]  # an incident event's data
    if isinstance(doc, dict) and "startsAt" not in doc and "starts_at" not in doc:
        doc = {**doc, "startsAt": "1970-01-01T00:00:00Z"}
    return parse_alert(doc, source="")


def _alert_of(args: argparse.Namespace) -> Alert:
    """The alert to search for: from --alert, or built from a name and label=value pairs."""
    from orchestrator.errors import PermanentError
    from orchestrator.ingest.alertmanager import parse_alert

    if args.alert is not None:
        if args.alertname:
            raise PermanentError("give an alert name or --alert PAYLOAD.json, not both")
        return _read_alert(args.alert)
    if not args.alertname:
        raise PermanentError("give an alert name (and label=value pairs) or --alert "
                             "PAYLOAD.json")
    labels = {"alertname": args.alertname, **_pairs(args.labels)}
    return parse_alert({"status": "firing", "labels": labels,
                        "annotations": _pairs(args.annotation),
                        "startsAt": "1970-01-01T00:00:00Z"}, source="")


def _pairs(items: list[str]) -> dict[str, str]:
    from orchestrator.errors import PermanentError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PermanentError(f"expected label=value, got {item!r}")
        out[key] = value
    return out


def _search(args: argparse.Namespace) -> int:
    from orchestrator import logs
    from orchestrator.errors import OrchestratorError
    from orchestrator.knowledge import wiring
    from orchestrator.knowledge.search import Retriever

    logs.setup("WARNING")
    try:
        alert = _alert_of(args)
        retriever = Retriever(**wiring.retriever_parts(_settings(args), path=args.store))
        try:
            hits = retriever.search(alert, top=max(args.top, 1))
        finally:
            retriever.close()
    except OrchestratorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if e.status < 500 else 1
    if args.json:
        print(json.dumps([{"runbook": h.runbook, "score": h.score, "heading": h.heading,
                           "retriever": h.retriever, "chunk_id": h.chunk_id} for h in hits],
                         indent=2))
    elif not hits:
        print(f"{alert.name}: no runbook applies (every score is below its threshold)")
    else:
        for i, h in enumerate(hits, 1):
            print(f"{i}. {h.runbook}  score={h.score:.2f}  via {h.retriever}  § {h.heading}")
    return 0
