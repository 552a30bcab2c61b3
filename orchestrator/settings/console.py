"""Settings of the console function (env prefix `CONSOLE_`).

The console holds the human side: who may call its API (a bearer token), the key it signs human
decisions with, how Slack and a generic webhook are reached, who may approve, and where the
audit log lives. Every secret has a `*_file` twin for a mounted Secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    """What the console needs: tokens and keys, notification targets, approvers, the audit log."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    api_token: SecretStr | None = None
    """Bearer token of the HTTP API, the sweep and the web login. Unset = every authenticated
    endpoint answers 401 (there is no way to switch authentication off)."""

    api_token_file: Path | None = None
    """File holding `api_token` (a mounted Secret); used when `api_token` is empty."""

    signing_key: SecretStr | None = None
    """This function's Ed25519 private key (PKCS#8 PEM), signing decisions, sweep escalations and
    the signature over each human decision. Unset (and no file) = nothing it emits verifies, so it
    refuses to emit."""

    signing_key_file: Path | None = None
    """File holding `signing_key` (the chart mounts `console.key` from its keys Secret)."""

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
    """Comma-separated approver allowlist (`alice@example.com`, `slack:U024BE7LH`), compared
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

    slack_signing_secret_file: Path | None = None
    """File holding `slack_signing_secret`."""

    slack_webhook_url: SecretStr | None = None
    """Slack incoming-webhook URL for approval requests and escalations (a secret: whoever has
    it can post). Used when no bot token is set."""

    slack_webhook_url_file: Path | None = None
    """File holding `slack_webhook_url`."""

    slack_bot_token: SecretStr | None = None
    """Slack bot token (`xoxb-…`). With `slack_channel` set, messages go through chat.postMessage
    so they can later be updated in place (chat.update) when an approval is cancelled or
    expires; an incoming webhook cannot edit what it posted."""

    slack_bot_token_file: Path | None = None
    """File holding `slack_bot_token`."""

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

    webhook_url_file: Path | None = None
    """File holding `webhook_url`."""

    webhook_format: Literal["json", "pagerduty"] = "json"
    """`json`: the console's own document (with a top-level `text` most chat bridges show);
    `pagerduty`: an Events API v2 trigger/resolve keyed by the incident."""

    webhook_routing_key: SecretStr | None = None
    """PagerDuty integration (routing) key, for `webhook_format: pagerduty`."""

    webhook_routing_key_file: Path | None = None
    """File holding `webhook_routing_key`."""

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

    max_event_bytes: int = 8 * 1024 * 1024
    """Largest delivered CloudEvent accepted (8 MiB: a context with log tails is far smaller)."""

    audit_dir: Path | None = None
    """Local folder of the audit log (the embedded default)."""

    audit_endpoint: str | None = None
    """MinIO/S3 `host:port` of the audit log; wins over `audit_dir` when set."""

    audit_access_key: str | None = None
    """Access key for the audit bucket (the console writes it)."""

    audit_secret_key: SecretStr | None = None
    """Secret key for the audit bucket."""

    audit_secret_key_file: Path | None = None
    """File holding `audit_secret_key`."""

    audit_bucket: str = "incident-audit"
    """Bucket of the audit log (the agent reads plans back from it)."""

    audit_secure: bool = False
    """HTTPS towards MinIO. Off by default: in-cluster MinIO usually serves plain HTTP."""

    audit_region: str | None = None
    """S3 region, when the server insists on one."""

    broker_url: str | None = Field(
        default=None, validation_alias=AliasChoices("K_SINK", "CONSOLE_BROKER_URL")
    )
    """Broker ingress URL decisions, expiries and re-sent dead letters are POSTed to. `K_SINK`
    (set by a Knative SinkBinding) wins over CONSOLE_BROKER_URL."""

    broker_timeout_seconds: float = Field(default=5.0, gt=0)
    """Per-POST timeout towards the broker, in seconds."""

    def approver_list(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.approvers.split(",") if a.strip())
