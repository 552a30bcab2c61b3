"""What the console's pages show about the audit log's integrity and the trust evidence: the
chain-broken banner and the trust page's content (web.py routes to these and renders them).

The incident page checks that incident's chain as it is stored now (a few small reads); the
list page shows the sweep's latest verdict over the last two days, as a whole-log check per
page view would cost a read of every record.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.console import trust, verify
from orchestrator.errors import PermanentError

if TYPE_CHECKING:
    from orchestrator.console.thresholds import TrustThresholds


def banner(store: ObjectStore, incident: str | None = None) -> str:
    """The chain-broken banner's text, or "" when the chain holds (as far as is known)."""
    if incident is not None:
        breaks = verify.check_incident(store, incident)[0]
        if not breaks:
            return ""
        first = min(breaks, key=lambda b: (b.at, b.where))
        return (f"This incident's audit chain is broken ({len(breaks)} break(s)); first: "
                f"{first.kind} at {first.where}: {first.detail}. What this page shows may "
                "not be what was logged. `orchestrator audit verify` reports the whole log.")
    status = verify.load_status(store)
    if status is None or status.get("ok", True):
        return ""
    seen: dict[str, Any] = status.get("first") or {}
    return (f"The audit chain is broken: {status.get('breaks', '?')} break(s) found by the "
            f"sweep at {status.get('checked_at', '?')}; first: {seen.get('kind', '?')} at "
            f"{seen.get('where', '?')}: {seen.get('detail', '')}. Run `orchestrator audit "
            "verify`.")


def trust_view(store: ObjectStore, query: dict[str, str], *, thresholds: TrustThresholds,
               now: datetime) -> dict[str, Any]:
    """The trust page's context: `?since=30d` (or a date)."""
    text = (query.get("since") or "30d").strip()[:40]
    try:
        since = trust.parse_since(text, now=now)
    except ValueError:
        raise PermanentError(f"since must be a span (30d, 12h) or a date, not {text!r}") \
            from None
    scopes = trust.report(store, since=since, thresholds=thresholds)
    return {"since": text, "since_at": since, "thresholds": thresholds, "scopes": scopes,
            "namespaces": trust.namespaces(scopes, thresholds)}
