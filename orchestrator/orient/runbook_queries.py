"""The PromQL a runbook lists for an alert, with the alert's labels in place of `$NS`, `$POD`...

The router reads the runbooks the alert names outright (its alertname in `alerts`, its
`runbook_url`, the file name: the agent's exact-match rules), never searches: that is the
agent's job, and the search index is the agent's. A placeholder is filled only with a value
that cannot change the query's shape (names, addresses: no quotes, backslashes or spaces);
a query left with a placeholder is skipped and the context says so.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

from orchestrator.context import ClusterContext
from orchestrator.events import Alert
from orchestrator.knowledge.exact import Entry, exact_matches
from orchestrator.knowledge.promql import queries
from orchestrator.knowledge.runbook import Runbook, RunbookError, load_folder

log = logging.getLogger(__name__)

_SAFE = re.compile(r"^[A-Za-z0-9_.:/@-]{1,253}$")
_PLACEHOLDER = re.compile(r"\$([A-Z][A-Z0-9_]*)")
_FROM_LABELS = {
    "NS": ("namespace",), "POD": ("pod",), "CONTAINER": ("container",),
    "NODE": ("node",), "SVC": ("service",), "HPA": ("horizontalpodautoscaler",),
    "JOB": ("job_name", "job"), "CRONJOB": ("cronjob",), "PVC": ("persistentvolumeclaim",),
    "INSTANCE": ("instance",), "URL": ("instance",), "MOUNT": ("mountpoint",),
    "DEPLOY": ("deployment",), "APP": ("deployment", "statefulset", "daemonset", "app"),
}
_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


@functools.cache
def _runbooks(folder: str) -> tuple[Runbook, ...]:
    return tuple(load_folder(Path(folder), strict=False))


def load_runbooks(folder: Path) -> None:
    """Read the runbooks now (once per process), so the first alert's queries need no wait;
    a folder that cannot be read is reported by `runbook_queries`."""
    try:
        _runbooks(str(folder))
    except (OSError, RunbookError):
        return


def values_for(alert: Alert, ctx: ClusterContext | None) -> dict[str, str]:
    """Placeholder → value, from the alert's labels, then from what Orient found."""
    out: dict[str, str] = {}
    for name, labels in _FROM_LABELS.items():
        for label in labels:
            value = alert.labels.get(label)
            if value and _SAFE.match(value):
                out[name] = value
                break
    if ctx is not None:
        top = next((o for o in reversed(ctx.owners) if o.kind in _WORKLOADS), None)
        if top is not None and _SAFE.match(top.name):
            out.setdefault("DEPLOY" if top.kind == "Deployment" else "APP", top.name)
            out.setdefault("APP", top.name)
        if ctx.target is not None and ctx.target.kind == "Pod" and _SAFE.match(ctx.target.name):
            out.setdefault("POD", ctx.target.name)
    return out


def runbook_queries(alert: Alert, ctx: ClusterContext | None,
                    folder: Path) -> tuple[list[str], list[str]]:
    """(filled queries of the runbook the alert names, notes on what was skipped)."""
    try:
        books = _runbooks(str(folder))
    except OSError as e:
        return [], [f"runbook PromQL: cannot read {folder.name}: {e.strerror}"]
    except RunbookError as e:  # the folder is missing
        return [], [f"runbook PromQL: {e}"]
    entries = [Entry(id=b.id, name=b.name, alerts=tuple(b.alerts)) for b in books]
    found = exact_matches(alert, entries)
    if not found:
        return [], []
    book = next(b for b in books if b.id == found[0][0].id)
    values = values_for(alert, ctx)
    filled, skipped = [], set()
    for q in queries(book.body):
        missing = q.placeholders - values.keys()
        if missing:
            skipped.update(missing)
            continue
        filled.append(_PLACEHOLDER.sub(lambda m: values[m.group(1)], q.text))
    notes = []
    if skipped:
        names = ", ".join(f"${n}" for n in sorted(skipped))
        notes.append(f"runbook {book.id}: queries needing {names} not run (no such label)")
    return filled, notes
