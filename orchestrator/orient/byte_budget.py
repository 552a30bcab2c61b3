"""The byte cap on the enriched event: fill in priority order, and say what was cut.

Priority: status first (the target and its owners, nodes, volumes, autoscalers, jobs; the other
pods after the first), then the Prometheus summaries, then Kubernetes Events (newest first), then
log lines (the previous instance of the crashing container first; within a tail, the newest
lines). A context that fits is returned untouched. Item sizes are added up as serialized JSON,
then the real event is measured, and trimmed further if the estimate was short (the `cut` notes
themselves take room).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.context import ClusterContext, LogTail, NodeInfo, PodInfo, WorkloadInfo

# Room kept for the `cut` notes this module adds, and the estimate's small errors.
RESERVE = 768
_KEEP_REVISIONS = 3


def fit(ctx: ClusterContext, *, size_of: Callable[[ClusterContext], int],
        cap: int) -> ClusterContext:
    """`ctx` cut to fit `cap` bytes, as `size_of` measures the whole event carrying it."""
    if size_of(ctx) <= cap:
        return ctx
    cut = list(ctx.cut)
    base = _skeleton(ctx)
    others = ctx.pods[1:]
    if size_of(base) > cap:
        base, others = _bare(base), [_bare_pod(p) for p in others]
        cut.append("labels, annotations and revision history: dropped (byte cap)")
    room = cap - size_of(base) - RESERVE

    def take(items: list[Any], what: str) -> list[Any]:
        nonlocal room
        kept = []
        for item in items:
            need = len(_json(item)) + 1
            if need > room:
                break
            kept.append(item)
            room -= need
        if len(kept) < len(items):
            cut.append(f"{what}: {len(items) - len(kept)} of {len(items)} dropped (byte cap)")
        return kept

    pods = base.pods + take(others, "pods")
    nodes = [_with_pods(n, take(full.pods, f"pod list of node {n.ref.name}"))
             for n, full in zip(base.nodes, ctx.nodes, strict=True)]
    metrics = take(ctx.metrics, "metric summaries")
    events = take(ctx.events, "events")
    logs = []
    for t in ctx.logs:
        lines = _tail_lines(t, room)
        if not lines:
            cut.append(f"{_log_name(t)}: dropped (byte cap)")
            continue
        kept = t.model_copy(update={"lines": lines,
                                    "truncated": t.truncated or len(lines) < len(t.lines)})
        room -= len(_json(kept)) + 1
        logs.append(kept)
        if len(lines) < len(t.lines):
            cut.append(f"{_log_name(t)}: {len(t.lines) - len(lines)} of {len(t.lines)} "
                       "lines dropped (byte cap)")
    out = base.model_copy(update={"pods": pods, "nodes": nodes, "events": events,
                                  "metrics": metrics, "logs": logs, "cut": cut})
    return _squeeze(out, size_of, cap)


def _skeleton(ctx: ClusterContext) -> ClusterContext:
    """Status only: the first (alerted or worst) pod, nodes without their pod lists."""
    return ctx.model_copy(update={
        "pods": ctx.pods[:1],
        "nodes": [_with_pods(n, []) for n in ctx.nodes],
        "workloads": [w.model_copy(update={"revisions": w.revisions[:_KEEP_REVISIONS]})
                      for w in ctx.workloads],
        "events": [], "metrics": [], "logs": []})


def _bare(ctx: ClusterContext) -> ClusterContext:
    def workload(w: WorkloadInfo) -> WorkloadInfo:
        return w.model_copy(update={"labels": {}, "annotations": {}, "revisions": w.revisions[:1]})

    return ctx.model_copy(update={"pods": [_bare_pod(p) for p in ctx.pods],
                                  "workloads": [workload(w) for w in ctx.workloads]})


def _bare_pod(p: PodInfo) -> PodInfo:
    return p.model_copy(update={"labels": {}, "annotations": {}})


def _with_pods(n: NodeInfo, pods: list[str]) -> NodeInfo:
    return n.model_copy(update={"pods": pods})


def _tail_lines(t: LogTail, room: int) -> list[str]:
    """The newest lines of a tail that fit in `room` bytes (with the tail's own overhead)."""
    room -= len(_json(t.model_copy(update={"lines": []}))) + 1
    kept: list[str] = []
    for line in reversed(t.lines):
        need = len(_json(line)) + 1
        if need > room:
            break
        kept.append(line)
        room -= need
    kept.reverse()
    return kept


def _squeeze(ctx: ClusterContext, size_of: Callable[[ClusterContext], int],
             cap: int) -> ClusterContext:
    """Drop from the lowest priority up until the real size fits (the estimate ran short)."""
    while size_of(ctx) > cap:
        if ctx.logs:
            last = ctx.logs[-1]
            rest = ctx.logs[:-1]
            logs = rest + ([last.model_copy(update={"lines": last.lines[1:], "truncated": True})]
                           if len(last.lines) > 1 else [])
            ctx = ctx.model_copy(update={"logs": logs})
        elif ctx.events:
            ctx = ctx.model_copy(update={"events": ctx.events[:-1]})
        elif ctx.metrics:
            ctx = ctx.model_copy(update={"metrics": ctx.metrics[:-1]})
        elif len(ctx.pods) > 1:
            ctx = ctx.model_copy(update={"pods": ctx.pods[:-1]})
        else:
            note = "the event exceeds the byte cap even without events, logs or other pods"
            if note not in ctx.cut:
                ctx = ctx.model_copy(update={"cut": [*ctx.cut, note]})
            return ctx
    return ctx


def _json(value: Any) -> bytes:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump_json().encode()
    from pydantic_core import to_json

    return to_json(value)


def _log_name(t: LogTail) -> str:
    return f"logs of {t.pod}/{t.container}{' (previous)' if t.previous else ''}"
