"""One incident's story as a newcomer should read it: the alert, what the router saw (pods,
events, a log tail), the plan and the runbook it cites, the dry run, the action, the verdict.

Text from the loop is wrapped, never cut: a long reason ends at a word with an ellipsis, so
no line ends mid-word. Pure functions over the timeline events the broker stored.
"""

from __future__ import annotations

import textwrap
from typing import Any

WIDTH = 100
INDENT = " " * 22  # as wide as a line's stamp: continuation lines align under its text


def say(text: str, *, max_lines: int = 4, first: str = "", indent: str = INDENT) -> list[str]:
    """Wrap `text` under `indent`; beyond `max_lines`, end at a whole word with ' …'. Words are
    never broken, not even at hyphens (pod names are full of them)."""
    wrapper = textwrap.TextWrapper(
        width=WIDTH, initial_indent=first or indent, subsequent_indent=indent,
        max_lines=max_lines, placeholder=" …", break_long_words=False, break_on_hyphens=False)
    return wrapper.wrap(" ".join(str(text).split()))


def _stamp(offset: float, label: str) -> str:
    return f"  +{offset:6.2f}s  {label:<9} "


def _alert(d: dict[str, Any]) -> list[str]:
    alert = d.get("alert") or {}
    labels = alert.get("labels") or {}
    where = "/".join(x for x in (labels.get("namespace"), labels.get("pod") or labels.get(
        "deployment") or labels.get("job_name") or labels.get("node")) if x)
    return [f"{labels.get('alertname', '?')} on {where or '?'} ({alert.get('status', '?')})"]


def _context(d: dict[str, Any]) -> list[str]:
    ctx = d.get("context") or {}
    out = [f"context from {ctx.get('source', 'none')}: {len(ctx.get('pods') or [])} pod(s), "
           f"{len(ctx.get('events') or [])} event(s)"]
    for pod in (ctx.get("pods") or [])[:3]:
        c = (pod.get("containers") or [{}])[0]
        state = c.get("reason") or c.get("state") or "?"
        last = f", last exit {c['last_reason']}" if c.get("last_reason") else ""
        out += say(f"pod {pod['ref']['name']}: {pod.get('phase')}, "
                   f"{'ready' if pod.get('ready') else 'not ready'}, {state}, "
                   f"{c.get('restart_count', 0)} restarts{last}", max_lines=2)
    for w in (ctx.get("workloads") or [])[-1:]:  # the top owner: the Deployment
        revs = sorted(w.get("revisions") or [], key=lambda r: r.get("revision", 0))
        history = f", revisions {', '.join(str(r['revision']) for r in revs)}" if revs else ""
        out += say(f"{w['ref']['kind'].lower()} {w['ref']['name']}: "
                   f"{w.get('available_replicas', 0)}/{w.get('desired_replicas')} available"
                   + history, max_lines=1)
    for n in (ctx.get("nodes") or [])[:1]:
        out.append(f"{INDENT}node {n['ref']['name']}: Ready={n.get('ready')}"
                   + (", cordoned" if n.get("unschedulable") else ""))
    for ev in (ctx.get("events") or [])[:2]:
        out += say(f"event {ev.get('reason')}: {ev.get('message', '')}", max_lines=2)
    for tail in (ctx.get("logs") or [])[:1]:
        lines = [ln for ln in tail.get("lines") or [] if ln.strip()][-3:]
        if lines:
            out += say(f"log tail ({tail['pod']}): " + " | ".join(lines), max_lines=3)
    return out


def _plan(d: dict[str, Any]) -> list[str]:
    plan = d.get("plan") or {}
    cites = ", ".join(sorted({c.get("runbook", "?") for c in plan.get("citations") or []}))
    acts = "; ".join(f"{a['type']} {a['target']['kind']}/{a['target']['name']}"
                     for a in plan.get("actions") or []) or "no action"
    out = say(f"plan: {acts}, citing runbook {cites or '-'} (confidence "
              f"{plan.get('confidence')}, {plan.get('model')})", max_lines=2)
    for a in (plan.get("actions") or [])[:1]:
        if a.get("reason"):
            out += say("why: " + a["reason"], max_lines=3)
    return out


def _results(results: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for r in results:
        a = r.get("action") or {}
        target = a.get("target") or {}
        out += say(f"{a.get('type')} {target.get('kind')}/{target.get('name')}: "
                   f"{r.get('outcome')}; dry run: {r.get('dry_run') or '-'}"
                   + (f"; API: {r['api_result']}" if r.get("api_result") else ""),
                   max_lines=3)
    return out


def render(events: list[dict[str, Any]], *, approve_hint: str | None = None) -> list[str]:
    """Lines for one incident's timeline (events: `{offset, type, source, data}`)."""
    lines: list[str] = []
    for e in events:
        d = e["data"] if isinstance(e.get("data"), dict) else {}
        stage = str(e.get("source", "")).rsplit("/", 1)[-1]
        kind = str(e["type"]).removeprefix("incident.")
        head = _stamp(float(e["offset"]), stage)
        body: list[str]
        if kind == "alert.received":
            body = _alert(d)
        elif kind == "context.enriched":
            body = _context(d)
        elif kind in ("plan.proposed", "plan.approved", "plan.rejected"):
            body = _plan(d) if kind == "plan.proposed" else [
                f"{kind.split('.')[1]} by {d.get('approver', '?')}"]
        elif kind == "approval.requested":
            body = ["waiting for a human: the dry run passed, nothing was written"]
            body += _results(d.get("dry_runs") or [])
            body += say(d.get("why") or "", max_lines=2)
            if approve_hint:
                body.append(INDENT + approve_hint.format(plan_id=(d.get("plan") or {}).get(
                    "plan_id", "?")))
        elif kind in ("action.completed", "action.failed"):
            who = f" (approved by {d['approver']})" if d.get("approver") else ""
            body = [f"{kind.split('.')[1]} in {d.get('mode', '?')} mode{who}"]
            body += _results(d.get("results") or [])
            if d.get("error"):
                body += say(str(d["error"]), max_lines=2)
        elif kind == "resolved":
            body = say(f"resolved ({d.get('how')}): {d.get('detail', '')}", max_lines=3)
        elif kind == "escalated":
            body = say(f"escalated ({d.get('reason')}): {d.get('detail', '')}", max_lines=4)
        else:
            body = [kind]
        first, *rest = body or [""]
        lines.append(head + first.removeprefix(INDENT))
        lines += rest
    return lines
