"""Ingest's HTTP surface: routing, size limit and the per-process wiring of settings and broker.

Built once per process on the first request (lazily: cold start is a product feature), then reused.
"""

from __future__ import annotations

import logging
from typing import Any

from orchestrator.adapters.broker import HttpPublisher, Publisher
from orchestrator.cloudevent_http import is_event
from orchestrator.errors import OrchestratorError, PermanentError, TransientError
from orchestrator.handler import Response, error_response, json_response
from orchestrator.ingest.core import STAGE, Auth, accept_manual, accept_webhook
from orchestrator.lifecycle import Lazy
from orchestrator.limits import too_large

log = logging.getLogger(__name__)

WEBHOOK_PATHS = ("/", "/alert", "/alerts", "/webhook", "/api/v1/alerts")


class Ingest:
    """Settings, auth and publisher of one ingest process."""

    def __init__(self, *, auth: Auth, publisher: Publisher | None, max_body: int,
                 max_alerts: int = 1000,
                 unavailable: str = "no broker URL configured (K_SINK or INGEST_BROKER_URL)",
                 closer: Any = None) -> None:
        self.auth = auth
        self.publisher = publisher
        self.max_body = max_body
        self.max_alerts = max_alerts
        self.unavailable = unavailable
        self._closer = closer

    @classmethod
    def from_env(cls) -> Ingest:
        from orchestrator.provenance import SealingPublisher, identity
        from orchestrator.settings.common import reveal
        from orchestrator.settings.ingest import IngestSettings

        s = IngestSettings.from_env()
        token = reveal(s.token)
        if s.auth_disabled:
            log.warning("INGEST_AUTH_DISABLED is set: the webhook accepts unauthenticated alerts")
        elif token is None:
            log.error("no INGEST_TOKEN or INGEST_TOKEN_FILE: every request will get 401")
        http = (
            HttpPublisher(s.broker_url, timeout=s.broker_timeout_seconds) if s.broker_url else None
        )
        if http is None:
            log.error("no broker URL (K_SINK or INGEST_BROKER_URL): alerts will get 503")
        signer, _ = identity(STAGE, key=s.signing_key)
        # Every alert leaves signed: the router refuses any it cannot trace to ingest.
        publisher = SealingPublisher(http, signer) if http and signer else None
        return cls(auth=Auth(token, s.auth_disabled), publisher=publisher,
                   max_body=s.max_body_bytes, max_alerts=s.max_alerts, closer=http,
                   unavailable="no signing key (INGEST_SIGNING_KEY)" if http else
                   "no broker URL configured (K_SINK or INGEST_BROKER_URL)")

    def close(self) -> None:
        """Close the broker connection of the calling thread (tests, shutdown)."""
        if isinstance(self._closer, HttpPublisher):
            self._closer.close()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if method == "GET" and path in ("/healthz", "/health/liveness", "/health/readiness"):
            return json_response(200, {"status": "ok"})
        if method != "POST":
            return json_response(405, {"error": f"{method} not allowed: POST alerts here"})
        try:
            if len(body) > self.max_body:
                raise too_large(self.max_body)
            status, summary = self._post(path, headers, body)
        except OrchestratorError as e:
            return error_response(e)
        return json_response(status, summary)

    def _post(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        if path not in WEBHOOK_PATHS:
            raise PermanentError(f"no such endpoint {path!r}: POST to / or /alert", status=404)
        if self.publisher is None:
            raise TransientError(self.unavailable)
        if is_event(headers):
            return accept_manual(headers=headers, body=body, auth=self.auth,
                                 publisher=self.publisher)
        return accept_webhook(body=body, authorization=headers.get("authorization"), auth=self.auth,
                              publisher=self.publisher, max_alerts=self.max_alerts)


#: The process-wide Ingest, built on first use (`instance()`; tests `instance.reset()`).
instance = Lazy(Ingest.from_env)
