"""Settings of the console function (env prefix `CONSOLE_`).

The console holds the human side: who may call its API (a bearer token), the key it signs human
decisions with, how Slack and a generic webhook are reached, who may approve, and where the
audit log lives. Every secret `x` may instead come from the file `CONSOLE_X_FILE` names (a
mounted Secret; `orchestrator.settings.files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from orchestrator.console.thresholds import TrustThresholds
from orchestrator.settings.blocks import AuditStoreSettings
from orchestrator.settings.common import SenderIdentitySettings
from orchestrator.settings.files import FileSecretSettings


class ConsoleSettings(FileSecretSettings, SenderIdentitySettings, AuditStoreSettings,
                      TrustThresholds):
    """What the console needs: tokens and keys, notification targets, approvers, the audit log,
    the trust report's thresholds (`TrustThresholds`)."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    api_token: SecretStr | None = None
    """The service token: the sweep and automation read the API, sweep and re-send dead letters
    with it. It is nobody, so it never approves or rejects (people use `approver_tokens`).
    Unset with no personal tokens = every authenticated endpoint answers 401."""

    approver_tokens: SecretStr | None = None
    """Personal tokens, for the CLI, the HTTP API and the web login: a JSON object mapping each
    token (at least 16 characters, or its `sha256:<hex>` digest) to the person it authenticates,
    `{"<token>": "alice@example.com"}`. A decision carries that person, never a typed name.
    Unset = nobody approves through the API, the CLI or a token login."""

    slack_approvers: str = ""
    """Who a Slack user is: comma-separated `SLACK_USER_ID=person` pairs
    (`U024BE7LH=alice@example.com`). A click from an unmapped Slack user decides nothing."""

    identity_header: str = ""
    """Request header an authenticating proxy sets to the signed-in person (oauth2-proxy:
    `X-Auth-Request-Email`), trusted by the web pages. Empty (the default) = no header is
    trusted. Set it only when every request reaches the console through that proxy, which
    must overwrite the header: anyone who can reach the console directly can send it."""

    signing_key: SecretStr | None = None
    """This function's Ed25519 private key (PKCS#8 PEM), signing decisions, sweep escalations and
    the signature over each human decision. Unset (and no `CONSOLE_SIGNING_KEY_FILE`, where the
    chart mounts `console.key` from its keys Secret) = nothing it emits verifies, so it refuses to
    emit."""

    public_keys_dir: Path | None = None
    """Folder of the other functions' Ed25519 public keys (`<function>.crt` certificates or `.pem`
    public keys; several per function while keys rotate). Every delivery to `/events` (each type its
    own producer's) and the executor's approval requests are verified with them; without it every
    delivery is refused with 401."""

    event_max_age_seconds: float = Field(default=900.0, gt=0)
    """Freshness window of a delivered event's signed time, in seconds (15 min): older events are
    refused with 401 (the broker dead-letters them), so a captured event cannot be replayed later.
    Longer than the broker's retry schedule (about 16 s) and a scale-from-zero."""

    clock_skew_seconds: float = Field(default=60.0, ge=0)
    """Tolerated clock difference between functions, in seconds, for signed times."""

    approvers: str = ""
    """Comma-separated approver allowlist (`alice@example.com`), compared
    case-insensitively. Empty = nobody may decide: approving is always an explicit grant. Keep
    it equal to the executor policy's `approvers`, which checks again."""

    approval_ttl_seconds: float = Field(default=900.0, gt=0)
    """Longest life of an approval request, in seconds (15 min), also when the executor's own
    `expires_at` is later: a decision about an old dry run is about a cluster that moved on."""

    stale_after_seconds: float = Field(default=3600.0, gt=0)
    """An incident with no new event for this long, neither resolved nor escalated, is escalated
    by the sweep (`stale`). One hour: longer than any stage's retries × timeout (the router's
    verification: 6 attempts × 240 s)."""

    slack_signing_secret: SecretStr | None = None
    """Slack app signing secret: every interactivity request must carry its `v0` signature.
    Unset = the interactivity endpoint refuses everything."""

    slack_webhook_url: SecretStr | None = None
    """Slack incoming-webhook URL for approval requests and escalations (a secret: whoever has
    it can post). Used when no bot token is set."""

    slack_bot_token: SecretStr | None = None
    """Slack bot token (`xoxb-…`). With `slack_channel` set, messages go through chat.postMessage
    so they can later be updated in place (chat.update) when an approval is cancelled or
    expires; an incoming webhook cannot edit what it posted."""

    slack_channel: str | None = None
    """Channel id (`C…`) the bot posts to."""

    slack_api_url: str = "https://slack.com/api"
    """Slack Web API base URL (tests point it at a fake)."""

    slack_response_url_prefix: str = "https://hooks.slack.com/"
    """A `response_url` in an interaction is only called when it starts with this: the payload
    is signed by Slack, and this keeps the console from being aimed anywhere else regardless."""

    webhook_url: SecretStr | None = None
    """Generic JSON webhook (Teams, PagerDuty Events v2, a chat bridge, anything), so approval
    requests and escalations reach a human without Slack."""

    webhook_format: Literal["json", "pagerduty"] = "json"
    """`json`: the console's own document (with a top-level `text` most chat bridges show);
    `pagerduty`: an Events API v2 trigger/resolve keyed by the incident."""

    webhook_routing_key: SecretStr | None = None
    """PagerDuty integration (routing) key, for `webhook_format: pagerduty`."""

    notify_timeout_seconds: float = Field(default=5.0, gt=0)
    """Timeout of one call to Slack or the webhook, in seconds: Slack wants its interactivity
    answer within 3 s, and a stuck webhook must turn into a retried delivery, not a hang."""

    surface: Literal["all", "public"] = "all"
    """Which endpoints this process serves. `all`: every one (the cluster-local console the
    broker delivers to). `public`: only what people and Slack use (the web page, the HTTP API,
    Slack interactivity, health): the Service exposed outside the cluster must not take broker
    deliveries, dead letters or sweeps, which carry no credential of their own and may only come
    from inside the cluster."""

    public_url: str = ""
    """The console's external URL (`https://console.example.com`), for links in messages and
    the cookie's Secure flag. Empty = messages carry no link."""

    session_hours: float = Field(default=12.0, gt=0)
    """Lifetime of a web login, in hours: one working shift."""

    refresh_seconds: int = Field(default=15, ge=2)
    """How often the incident list refreshes itself in the browser, in seconds."""

    max_event_bytes: int = Field(default=1024 * 1024, ge=4096)
    """Largest request body accepted, in bytes (1 MiB), on every path (deliveries, dead letters,
    the API): a larger one is refused with 413 before it is read whole. The loop's largest
    event, a context with log tails, is capped at 32 KiB."""

    deadletter_max_bytes: int = Field(default=256 * 1024, ge=1024)
    """Largest dead-letter data kept whole, in bytes (256 KiB). `/deadletter` takes no
    credential, so past this only the size, a digest and a 4 KiB preview are stored, and the
    letter cannot be re-sent. The loop's own events are far smaller."""

    audit_retention_days: int = Field(default=0, ge=0)
    """Days of audit log kept, counted in whole UTC days; the sweep deletes older sealed days
    (each deletion recorded, signed, in `retention/`). 0 = keep forever: deleting evidence is
    a choice to make, not a default."""

    audit_seal_grace_seconds: float = Field(default=600.0, ge=0)
    """How long after midnight UTC the sweep waits before sealing the day that ended, in
    seconds (10 min): a write that read the clock just before midnight must have landed."""

    broker_url: str | None = Field(
        default=None, validation_alias=AliasChoices("K_SINK", "CONSOLE_BROKER_URL")
    )
    """Broker ingress URL decisions, expiries and re-sent dead letters are POSTed to. `K_SINK`
    (set by a Knative SinkBinding) wins over CONSOLE_BROKER_URL."""

    broker_timeout_seconds: float = Field(default=5.0, gt=0)
    """Per-POST timeout towards the broker, in seconds."""

    def approver_list(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.approvers.split(",") if a.strip())
