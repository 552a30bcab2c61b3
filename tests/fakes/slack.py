"""A fake Slack on loopback: incoming webhooks, `response_url`s, chat.postMessage / chat.update,
and a generic webhook, all recorded; plus interactivity requests signed exactly as Slack signs
them (`v0` HMAC-SHA256 over `v0:{timestamp}:{raw body}`).

Paths: `/services/...` (incoming webhooks), `/actions/...` (response_url), `/api/<method>` (Web
API, answering `{"ok": true, ...}`), anything else (a generic webhook).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

from tests.fakes.serving import QuietHandler, serve_in_thread


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeSlack:
    url: str
    calls: list[Call] = field(default_factory=list)
    fail: list[int] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    _ts: int = 0

    @property
    def webhook(self) -> str:
        return f"{self.url}/services/T000/B000/XXXX"

    @property
    def generic(self) -> str:
        return f"{self.url}/generic/hook"

    @property
    def response_url(self) -> str:
        return f"{self.url}/actions/T000/1234/abcd"

    def fail_next(self, *statuses: int) -> None:
        with self.cond:
            self.fail.extend(statuses)

    def to(self, prefix: str) -> list[Call]:
        with self.cond:
            return [c for c in self.calls if c.path.startswith(prefix)]

    def wait_for(self, prefix: str, n: int = 1, timeout: float = 5.0) -> list[Call]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len([c for c in self.calls
                                                 if c.path.startswith(prefix)]) >= n, timeout)
            if not ok:
                raise AssertionError(f"expected {n} calls to {prefix}, got "
                                     f"{[c.path for c in self.calls]}")
            return [c for c in self.calls if c.path.startswith(prefix)]

    def next_ts(self) -> str:
        self._ts += 1
        return f"1700000000.{self._ts:06d}"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with an interactivity request."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + mac.hexdigest(),
            "Content-Type": "application/x-www-form-urlencoded"}


def interaction(*, plan_id: str, user: str, action: str = "approve",
                response_url: str = "") -> bytes:
    """A `block_actions` payload as Slack posts it (form-encoded JSON)."""
    payload = {
        "type": "block_actions", "user": {"id": user, "username": "alice", "team_id": "T000"},
        "api_app_id": "A000", "token": "deprecated", "trigger_id": "1.2.3",
        "team": {"id": "T000", "domain": "example"},
        "container": {"type": "message", "message_ts": "1700000000.000001",
                      "channel_id": "C000", "is_ephemeral": False},
        "channel": {"id": "C000", "name": "incidents"}, "response_url": response_url,
        "message": {"ts": "1700000000.000001", "blocks": []}, "state": {"values": {}},
        "actions": [{"type": "button", "action_id": action, "block_id": f"approval:{plan_id}",
                     "text": {"type": "plain_text", "text": action.title()}, "value": plan_id,
                     "action_ts": "1700000001.000002"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    slack: FakeSlack

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode()
            with slack.cond:
                status = slack.fail.pop(0) if slack.fail else 200
                if status < 300:
                    slack.calls.append(Call(self.path, dict(self.headers), body))
                slack.cond.notify_all()
                reply: bytes = b"ok"
                if self.path.startswith("/api/"):
                    doc: dict[str, Any] = {"ok": True}
                    if self.path == "/api/chat.postMessage":
                        doc.update(channel=body.get("channel"), ts=slack.next_ts())
                    reply = json.dumps(doc).encode()
            self.reply(status, reply,
                       content_type="application/json" if reply != b"ok" else "text/plain")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    slack = FakeSlack(url=f"http://127.0.0.1:{server.server_address[1]}")
    with serve_in_thread(server):
        yield slack
