"""Slack: Block Kit messages for approvals and escalations, and verifying what Slack sends back.

Alert and log text is hostile. In Slack it could ping a whole channel (`<!channel>`), disguise a
link (`<https://evil|the runbook>`) or mention people, so every piece of it is escaped (`&`, `<`,
`>` become entities, bare `@channel`-style words are broken) before it reaches a message.

Interactivity requests are verified before anything else is looked at: the `v0` HMAC-SHA256 of
`v0:{timestamp}:{raw body}` with the signing secret, compared in constant time, within five
minutes, and never twice (seen signatures are remembered for the window).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.errors import AuthError, PermanentError
from orchestrator.events import Escalated

if TYPE_CHECKING:  # the approval payloads load with their first use (cold start)
    from orchestrator.events import ApprovalRequested

WINDOW_SECONDS = 300
SEEN = "slack-seen"
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
# ASCII digits only: str.isdigit() also accepts '²' or '٣', which int() then refuses (a 500).
_STAMP = re.compile(r"[0-9]{1,12}")
_SECTION_MAX = 2900
_BLOCKS_MAX = 45


def escape(text: object, limit: int = _SECTION_MAX) -> str:
    """Slack mrkdwn-safe text: entities for `&<>`, broadcast words broken, bounded length."""
    s = str(text)
    if len(s) > limit:
        s = s[:limit] + "…"
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u200b" + m.group(1), s)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:_SECTION_MAX + 100]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _link(url: str, label: str) -> str:
    # Only our own URL becomes a link; `|` and `>` would end Slack's link syntax early.
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe}|{escape(label, 200)}>"


def _alert_line(alert: Any) -> str:
    labels = alert.labels
    where = "/".join(x for x in (labels.get("namespace"), labels.get("pod")
                                 or labels.get("deployment") or labels.get("node")) if x)
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    head = f"*{escape(alert.name or 'alert', 200)}*" + (f" on `{escape(where, 200)}`"
                                                        if where else "")
    return head + (f"\n{escape(summary, 1000)}" if summary else "")


def approval_message(req: ApprovalRequested, *, console_url: str = "",
                     expires: datetime | None = None) -> dict[str, Any]:
    """The approval request: the plan, its citations, the dry run, and Approve / Reject."""
    plan = req.plan
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Approval needed",
                                    "emoji": False}},
        _section(_alert_line(req.alert)),
        _section(f"*Hypothesis* ({plan.confidence:.0%} confident)\n{escape(plan.hypothesis)}"),
    ]
    if req.why:
        blocks.append(_context(f"Why a human: {escape(req.why, 500)}"))
    for i, result in enumerate(req.dry_runs[:10], 1):
        act = result.action
        text = (f"*{i}. `{escape(act.type, 50)}` {escape(act.target.key, 300)}*"
                f" — dry run: {escape(result.outcome, 30)}")
        detail = result.dry_run or result.api_result
        if detail:
            text += f"\n```{escape(detail, 800).replace('```', 'ˋˋˋ')}```"
        blocks.append(_section(text))
    for c in plan.citations[:3]:
        heading = f" › {escape(c.heading, 200)}" if c.heading else ""
        blocks.append(_context(f"Runbook `{escape(c.runbook, 200)}`{heading}: "
                               f"{escape(c.chunk, 600)}"))
    expiry = (expires or req.expires_at).strftime("%H:%M UTC")
    footer = f"Plan `{escape(plan.plan_id, 100)}` · expires {expiry}"
    if console_url:
        footer += " · " + _link(f"{console_url}/incidents/{req.incident_key}", "open in console")
    blocks.append(_context(footer))
    blocks.append({"type": "actions", "block_id": f"approval:{plan.plan_id}"[:255], "elements": [
        {"type": "button", "action_id": "approve", "style": "primary", "value": plan.plan_id,
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": "reject", "style": "danger", "value": plan.plan_id,
         "text": {"type": "plain_text", "text": "Reject"}},
    ]})
    return _message(f"Approval needed: {req.alert.name or 'alert'} ({plan.plan_id})",
                    blocks)


def unverified_message(req: ApprovalRequested, *, console_url: str = "") -> dict[str, Any]:
    """An approval request whose executor signature does not verify: said so, nothing of its
    (unsigned) content shown, and no buttons, as on the console's page."""
    text = (f"An approval request for plan `{escape(req.plan.plan_id, 100)}` arrived without a "
            "valid executor signature over what it shows: it is not shown and cannot be "
            "approved.")
    footer = f"Incident `{escape(req.incident_key, 200)}`"
    if console_url:
        footer += " · " + _link(f"{console_url}/incidents/{req.incident_key}", "open in console")
    return _message(f"Unverifiable approval request ({req.plan.plan_id})",
                    [_section(text), _context(footer)])


def escalation_message(esc: Escalated, *, console_url: str = "") -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Incident escalated",
                                    "emoji": False}},
    ]
    if esc.alert is not None:
        blocks.append(_section(_alert_line(esc.alert)))
    blocks.append(_section(f"*{escape(esc.reason, 60)}* (from the {escape(esc.stage, 20)})"
                           + (f"\n{escape(esc.detail)}" if esc.detail else "")))
    footer = f"Incident `{escape(esc.incident_key, 200)}`"
    if console_url:
        footer += " · " + _link(f"{console_url}/incidents/{esc.incident_key}", "open in console")
    blocks.append(_context(footer))
    name = esc.alert.name if esc.alert is not None else esc.incident_key
    return _message(f"Escalated ({esc.reason}): {name}", blocks)


def outcome_message(req: ApprovalRequested, verdict: str,
                    by: str | None = None) -> dict[str, Any]:
    """What an approval message becomes once answered, cancelled or expired (no buttons).
    `by`: the Slack user who decided, shown as a mention (only a well-formed user id is)."""
    mention = f" by <@{by}>" if by and _USER_ID.match(by) else ""
    blocks = [_section(_alert_line(req.alert)),
              _section(f"Plan `{escape(req.plan.plan_id, 100)}`: {escape(verdict, 500)}"
                       f"{mention}")]
    return _message(f"{req.alert.name or 'alert'}: {verdict}", blocks)


def _message(fallback: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"text": escape(fallback, 300), "blocks": blocks[:_BLOCKS_MAX],
            "unfurl_links": False, "unfurl_media": False}


def verify(secret: str | None, headers: dict[str, str], body: bytes, *, now: float,
           store: ObjectStore | None = None) -> None:
    """Raise AuthError unless this is a fresh, genuine, first-seen request from Slack."""
    if not secret:
        raise AuthError("no Slack signing secret is configured (CONSOLE_SLACK_SIGNING_SECRET)")
    stamp, given = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
    if not stamp or not given:
        raise AuthError("missing Slack signature headers")
    if not _STAMP.fullmatch(stamp):
        raise AuthError("malformed Slack request timestamp")
    if abs(now - int(stamp)) > WINDOW_SECONDS:
        raise AuthError("Slack request timestamp outside the 5-minute window")
    base = b"v0:" + stamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise AuthError("invalid Slack signature")
    if store is not None:
        digest = hashlib.sha256(given.encode()).hexdigest()[:40]
        if not store.put(f"{SEEN}/{stamp}-{digest}", b"", content_type="text/plain",
                         if_absent=True):
            raise AuthError("Slack request replayed")


def forget_seen(store: ObjectStore, *, now: float) -> int:
    """Drop replay markers older than the window (the sweep calls this)."""
    dropped = 0
    for key in store.list(f"{SEEN}/"):
        stamp = key.rsplit("/", 1)[-1].split("-", 1)[0]
        if _STAMP.fullmatch(stamp) and now - int(stamp) > 2 * WINDOW_SECONDS:
            store.delete(key)
            dropped += 1
    return dropped


@dataclass(frozen=True)
class Click:
    """An Approve / Reject button press."""

    user: str
    """The Slack user id (`U…`/`W…`) Slack's signature vouches for; `identity` maps it."""
    decision: str
    plan_id: str
    response_url: str | None


def parse_click(body: bytes) -> Click:
    """The button press in a (verified) `block_actions` interaction payload."""
    try:
        form = parse_qs(body.decode(), strict_parsing=True)
        payload = json.loads(form["payload"][0])
    except (ValueError, KeyError, UnicodeDecodeError) as e:
        raise PermanentError("not a Slack interaction payload") from e
    if payload.get("type") != "block_actions" or not payload.get("actions"):
        raise PermanentError(f"unsupported interaction {str(payload.get('type'))[:40]!r}")
    action = payload["actions"][0]
    decision = {"approve": "approved", "reject": "rejected"}.get(action.get("action_id"))
    user = (payload.get("user") or {}).get("id")
    if decision is None or not user or not action.get("value"):
        raise PermanentError("interaction is not an Approve / Reject click")
    if not isinstance(user, str) or not _USER_ID.match(user):
        raise PermanentError("interaction carries no well-formed Slack user id")
    return Click(user=user, decision=decision, plan_id=str(action["value"]),
                 response_url=payload.get("response_url"))
