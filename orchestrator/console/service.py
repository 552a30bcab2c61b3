"""The console's wiring and its machine-facing endpoints: broker deliveries (`/events`), the
dead-letter sink (`/deadletter`), Slack interactivity and the sweep.

Built once per process on the first request (lazily: cold start is a product feature). Every
broker delivery is answered `202` with an empty body: the console never replies with an event
(so it cannot loop); what it has to say (decisions, expiries) it POSTs to the broker itself.

Who may call what: `/api/*` needs a bearer token (a personal one to decide; the service token
reads), `POST /sweep` the service token; the web pages a login cookie (or a token, or the trusted
proxy's identity header) and a CSRF token per form; `/slack/interactivity` Slack's signature,
fresh and never seen before, from a Slack user mapped to a person (see `identity`). `/events`
and `/deadletter` take no credential: only the broker may reach them, which holds while the
console is cluster-local (the chart's default). What they receive is logged and shown, never
authority: an approval needs the executor's signature from its dry run,
and a dead letter goes back to the broker only through an authenticated re-send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from orchestrator.adapters.broker import HttpPublisher, Publisher
from orchestrator.adapters.chat import ChatClient
from orchestrator.adapters.object_store import ObjectStore
from orchestrator.auth import bearer_from_header, check_token
from orchestrator.console import approvals, audit, index, notify, react, seal, slack
from orchestrator.console.identity import Directory, Identity
from orchestrator.console.session import Sessions
from orchestrator.console.thresholds import TrustThresholds
from orchestrator.envelope import Event, Outgoing
from orchestrator.errors import OrchestratorError, PermanentError, TransientError
from orchestrator.events import TYPE_PREFIX
from orchestrator.handler import Response, error_response, json_response, no_reply
from orchestrator.lifecycle import Lazy, process_settings
from orchestrator.logs import correlate
from orchestrator.provenance import Keyring
from orchestrator.settings.console import ConsoleSettings

log = logging.getLogger(__name__)
STAGE = "console"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Console:
    """Everything one console process works with."""

    store: ObjectStore
    publisher: Publisher | None
    approvals: approvals.Approvals
    notifier: notify.Notifier
    sessions: Sessions
    api_token: str | None
    people: Directory = field(default_factory=Directory)
    """Who a token, a Slack user or the proxy's header stands for."""
    slack_secret: str | None = None
    slack_response_prefix: str = "https://hooks.slack.com/"
    stale_after: timedelta = timedelta(hours=1)
    refresh_seconds: int = 15
    max_event_bytes: int = 1024 * 1024
    deadletter_max_bytes: int = 256 * 1024
    keyring: Keyring = Keyring({})
    """The public keys every delivery to `/events` is verified with (its type's producer's)."""
    surface: str = "all"
    """`public`: broker deliveries, dead letters and the sweep are not served (see settings)."""
    audit_policy: seal.Policy = field(default_factory=seal.Policy)
    trust: TrustThresholds = field(default_factory=TrustThresholds)
    clock: Callable[[], datetime] = field(default=_now)
    closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, s: ConsoleSettings) -> Console:
        from orchestrator.provenance import SealingPublisher, identity_of
        from orchestrator.settings.common import reveal

        token = reveal(s.api_token)
        signer, keyring = identity_of(STAGE, s)
        people = Directory.build(
            service_token=token, slack=s.slack_approvers, header=s.identity_header,
            tokens=reveal(s.approver_tokens))
        if token is None:
            log.error("no CONSOLE_API_TOKEN: the API, the sweep and the web login answer 401")
        http = (HttpPublisher(s.broker_url, timeout=s.broker_timeout_seconds)
                if s.broker_url else None)
        # Everything the console POSTs (decisions, sweep escalations) leaves signed.
        publisher = SealingPublisher(http, signer) if http and signer else None
        chat = ChatClient(api_url=s.slack_api_url, timeout=s.notify_timeout_seconds,
                          bot_token=reveal(s.slack_bot_token))
        store = audit_store(s)
        console_url = s.public_url.rstrip("/")
        notifier = notify.Notifier(
            chat=chat,
            slack_webhook=reveal(s.slack_webhook_url),
            slack_channel=s.slack_channel if chat.has_bot_token else None,
            webhook=reveal(s.webhook_url),
            webhook_format=s.webhook_format,
            routing_key=reveal(s.webhook_routing_key),
            console_url=console_url, keyring=keyring)
        closers: list[Callable[[], None]] = [chat.close]
        if http is not None:
            closers.append(http.close)
        return cls(
            store=store, publisher=publisher,
            approvals=approvals.Approvals(store=store, publisher=publisher,
                                          signer=signer, keyring=keyring,
                                          approvers=s.approver_list(),
                                          ttl=timedelta(seconds=s.approval_ttl_seconds)),
            notifier=notifier,
            sessions=Sessions(people.session_material(), s.session_hours * 3600,
                              secure=console_url.startswith("https://")),
            api_token=token, people=people,
            slack_secret=reveal(s.slack_signing_secret),
            slack_response_prefix=s.slack_response_url_prefix,
            stale_after=timedelta(seconds=s.stale_after_seconds),
            refresh_seconds=s.refresh_seconds, max_event_bytes=s.max_event_bytes,
            deadletter_max_bytes=s.deadletter_max_bytes, keyring=keyring,
            surface=s.surface, closers=closers, audit_policy=seal.Policy.from_settings(s),
            trust=TrustThresholds.of(s))

    def close(self) -> None:
        for close in self.closers:
            close()

    def check_bearer(self, headers: dict[str, str]) -> None:
        """The service token, and only it (the sweep)."""
        check_token(_bearer(headers), self.api_token)

    def identify(self, headers: dict[str, str]) -> Identity:
        """Who a bearer token proves: a person (personal token) or the service."""
        return self.people.by_token(_bearer(headers))

    # --- broker deliveries -------------------------------------------------------------------

    def on_event(self, event: Event) -> Outgoing | None:
        """Log one `incident.` event, refresh its index entry, react (notify, cancel)."""
        if not event.type.startswith(TYPE_PREFIX):
            raise PermanentError(f"console does not handle {event.type!r}")
        now = self.clock()
        # Authenticated before anything is recorded: a forged `resolved` must not cancel an
        # approval, a forged escalation must not page, a forged plan must not spend a budget.
        self.keyring.check(event, now=now)
        record, written = audit.write(self.store, event, now=now)
        summary = index.refresh(self.store, record.incidentkey)
        log.info("audit: %s %s %s (incident now %s)", record.type, record.id,
                 "written" if written else "already logged", summary.status)
        react.react(store=self.store, notifier=self.notifier, record=record, summary=summary,
                    records=audit.read(self.store, record.incidentkey),
                    ttl=self.approvals.ttl, now=now)
        return None

    def on_deadletter(self, headers: dict[str, str], body: bytes) -> Response:
        from orchestrator.console import deadletters  # loaded by the first one (cold start)

        try:
            deadletters.store_letter(self.store, headers, body, now=self.clock(),
                                     max_data=self.deadletter_max_bytes)
        except OrchestratorError as e:
            return error_response(e)
        return no_reply()

    # --- Slack ------------------------------------------------------------------------------

    def on_slack(self, headers: dict[str, str], body: bytes) -> Response:
        """A button press: verified first, then decided, then the message replaced."""
        try:
            slack.verify(self.slack_secret, headers, body, now=self.clock().timestamp(),
                         store=self.store)
            click = slack.parse_click(body)
        except OrchestratorError as e:
            return error_response(e)
        with correlate(None, None):
            reply = self._decide_click(click)
        if click.response_url and click.response_url.startswith(self.slack_response_prefix):
            try:
                chat = self.notifier.chat
                if chat is not None:
                    chat.post_webhook(click.response_url, reply)
            except OrchestratorError as e:
                # The decision stands (it is on the broker); only the message edit failed.
                log.warning("could not update the Slack message: %s", e)
        elif click.response_url:
            log.warning("ignoring a response_url outside %s", self.slack_response_prefix)
        return b"", 200, {}

    def _decide_click(self, click: slack.Click) -> dict[str, object]:
        try:
            # Slack signed the user id; the directory says which person that is.
            who = self.people.by_slack(click.user)
            done = approvals.decide(self.approvals, plan_id=click.plan_id,
                                    decision=click.decision,  # type: ignore[arg-type]
                                    approver=who.name, now=self.clock())
        except PermanentError as e:
            log.warning("Slack decision by Slack user %s refused: %s", click.user, e)
            return {"response_type": "ephemeral", "replace_original": False,
                    "text": slack.escape(f"Not done: {e}", 500)}
        except OrchestratorError as e:
            return {"response_type": "ephemeral", "replace_original": False,
                    "text": slack.escape(f"Not done, try again: {e}", 500)}
        found = approvals.find_request(self.store, click.plan_id)
        verdict = f"{done.decision} at {done.decided_at[:19]}Z"
        if found is None:
            return {"replace_original": True, "text": slack.escape(verdict)}
        return {"replace_original": True,
                **slack.outcome_message(found[1], verdict, by=click.user)}

    # --- the sweep --------------------------------------------------------------------------

    def on_sweep(self, headers: dict[str, str]) -> Response:
        from orchestrator.console.sweep import sweep  # loaded by the first sweep (cold start)

        try:
            self.check_bearer(headers)
            report = sweep(store=self.store, publisher=self.publisher, notifier=self.notifier,
                           ttl=self.approvals.ttl, stale_after=self.stale_after,
                           now=self.clock(), audit_signer=self.approvals.signer,
                           audit_keyring=self.keyring,
                           audit_policy=self.audit_policy)
        except OrchestratorError as e:
            return error_response(e)
        return json_response(200, report.as_json())


def _bearer(headers: dict[str, str]) -> str | None:
    return bearer_from_header(headers.get("authorization"))


def audit_store(s: ConsoleSettings) -> ObjectStore:
    """MinIO when an endpoint is set, else the local folder (a default one as a last resort)."""
    from orchestrator.adapters.object_store import audit_store as open_store

    store = open_store(s)
    if store is None:
        # 503, not 4xx: the broker keeps retrying the deliveries until someone configures it.
        raise TransientError("no audit store configured (CONSOLE_AUDIT_DIR or "
                             "CONSOLE_AUDIT_ENDPOINT)")
    return store


#: The process-wide Console, built on first use (`instance()`; tests `instance.reset()`).
instance = Lazy(lambda: Console.from_settings(process_settings(ConsoleSettings)))
