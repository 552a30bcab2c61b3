"""Talking to people: Slack (incoming webhooks, `response_url`, chat.postMessage/chat.update) and
any generic JSON webhook, over HTTP.

One small client for all of it; base URLs come from settings so tests point it at a fake. Every
failure becomes a TransientError: a notification that did not arrive is retried by the broker and
finally dead-lettered (where the console shows it), never dropped silently.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.errors import TransientError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


class Chat(Protocol):
    """The port the console notifies through."""

    def post_webhook(self, url: str, payload: dict[str, Any],
                     headers: dict[str, str] | None = None) -> None: ...

    def post_message(self, channel: str, message: dict[str, Any]) -> tuple[str, str]: ...

    def update_message(self, channel: str, ts: str, message: dict[str, Any]) -> None: ...


class ChatClient:
    """Slack and webhook calls through one httpx client (created on first use)."""

    def __init__(self, *, api_url: str = "https://slack.com/api", bot_token: str | None = None,
                 timeout: float = 5.0, transport: httpx.BaseTransport | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self._bot_token = bot_token
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None

    @property
    def has_bot_token(self) -> bool:
        return bool(self._bot_token)

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self._timeout, transport=self._transport,
                                        trust_env=False, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _post(self, url: str, payload: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        import httpx

        try:
            resp = self._http().post(url, content=json.dumps(payload).encode(),
                                     headers={"content-type": "application/json", **headers})
        except httpx.HTTPError as e:
            # The URL may embed a secret (webhooks): name only its host.
            raise TransientError(f"{_host(url)} unreachable: {type(e).__name__}") from e
        if resp.status_code >= 300:
            raise TransientError(
                f"{_host(url)} answered HTTP {resp.status_code}: {resp.text[:200]}", status=502
            )
        return resp

    def post_webhook(self, url: str, payload: dict[str, Any],
                     headers: dict[str, str] | None = None) -> None:
        """POST a JSON document (Slack incoming webhook, `response_url`, generic webhook)."""
        self._post(url, payload, headers or {})

    def _api(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self._bot_token:
            raise TransientError(f"Slack {method} needs a bot token (CONSOLE_SLACK_BOT_TOKEN)")
        resp = self._post(f"{self.api_url}/{method}", body,
                          {"authorization": f"Bearer {self._bot_token}",
                           "content-type": "application/json; charset=utf-8"})
        try:
            doc: dict[str, Any] = resp.json()
        except ValueError as e:
            raise TransientError(f"Slack {method} answered something that is not JSON") from e
        if not doc.get("ok"):
            raise TransientError(f"Slack {method} failed: {doc.get('error', 'unknown error')}",
                                 status=502)
        return doc

    def post_message(self, channel: str, message: dict[str, Any]) -> tuple[str, str]:
        """chat.postMessage; returns (channel id, message ts) so the message can be updated."""
        doc = self._api("chat.postMessage", {"channel": channel, **message})
        return str(doc.get("channel") or channel), str(doc["ts"])

    def update_message(self, channel: str, ts: str, message: dict[str, Any]) -> None:
        """chat.update of a message the bot posted."""
        self._api("chat.update", {"channel": channel, "ts": ts, **message})


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or "webhook"
