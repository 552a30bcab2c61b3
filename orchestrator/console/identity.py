"""Who is calling the console: an authenticated identity, never a name the caller typed.

A decision carries its approver to the executor, which acts on it; so the approver must be
whoever proved it, not whatever a request body or a login form says. The console knows people
from four sources, and a caller's identity comes from exactly one of them:

- a personal API token (`CONSOLE_APPROVER_TOKENS[_FILE]`: a JSON object token → person, a
  mounted Secret), for the CLI, the HTTP API and the web login;
- the Slack user id of a Slack-signed interaction, mapped to a person (`CONSOLE_SLACK_APPROVERS`);
  an unmapped Slack user is nobody;
- the identity header an authenticating proxy sets (oauth2-proxy's `X-Auth-Request-Email`),
  only when `CONSOLE_IDENTITY_HEADER` names it;
- the console's service token (`CONSOLE_API_TOKEN`): the sweep and automation. It reads, sweeps
  and re-sends dead letters, but it is nobody, so it never decides.

The approver allowlist still applies on top (`approvals.decide`). Tokens are compared as SHA-256
digests in constant time, against every entry whatever matched, and never logged; a token file
may hold `sha256:<hex>` digests instead of the tokens themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.errors import AuthError, PermanentError, TransientError

Via = Literal["token", "session", "header", "slack", "service"]
MIN_TOKEN_CHARS = 16
MAX_NAME_CHARS = 200
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
# What a proxy may put in the identity header: an e-mail or a user name, one value, no spaces.
_HEADER_VALUE = re.compile(r"^[A-Za-z0-9._%+@:-]{1,200}$")


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: `name` is the person (empty for the service token)."""

    name: str
    via: Via

    @property
    def is_person(self) -> bool:
        return self.via != "service" and bool(self.name)

    def describe(self) -> str:
        return {"token": "personal token", "session": "web login", "header": "identity proxy",
                "slack": "Slack", "service": "service token"}[self.via]


SERVICE = Identity("", "service")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME_CHARS:
        raise TransientError(f"{where}: every person must be a non-empty name of at most "
                             f"{MAX_NAME_CHARS} characters")
    return value.strip()


def parse_tokens(text: str | None, *, setting: str = "CONSOLE_APPROVER_TOKENS",
                 ) -> tuple[tuple[bytes, str], ...]:
    """(digest, person) pairs of a token file: `{"<token>|sha256:<hex>": "<person>", …}`.

    A malformed file is a configuration error that names the setting and never a token: a 503,
    so the broker keeps its deliveries for when the operator has fixed it, instead of a 4xx
    that would drop them.
    """
    if not text or not text.strip():
        return ()
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise TransientError(f"{setting}: not JSON (line {getattr(e, 'lineno', '?')})") from None
    if not isinstance(doc, dict):
        raise TransientError(f"{setting}: must be a JSON object mapping token to person")
    pairs: list[tuple[bytes, str]] = []
    for i, (token, person) in enumerate(doc.items(), 1):
        name = _name(person, f"{setting} entry {i}")
        digest = _DIGEST.match(token)
        if digest is not None:
            pairs.append((bytes.fromhex(digest.group(1)), name))
        elif len(token) < MIN_TOKEN_CHARS:
            raise TransientError(f"{setting}: the token of {name!r} is shorter than "
                                 f"{MIN_TOKEN_CHARS} characters")
        else:
            pairs.append((_digest(token), name))
    return tuple(pairs)


def parse_slack(text: str, *, setting: str = "CONSOLE_SLACK_APPROVERS") -> dict[str, str]:
    """`U024BE7LH=alice@example.com, W0123ABC=bob@example.com` as a dict."""
    found: dict[str, str] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        user, sep, person = item.partition("=")
        if not sep or not _SLACK_ID.match(user.strip()):
            raise TransientError(f"{setting}: {item[:40]!r} is not SLACK_USER_ID=person")
        found[user.strip()] = _name(person, setting)
    return found


@dataclass(frozen=True)
class Directory:
    """The console's people: token digests, Slack ids and the trusted header, if any."""

    service: bytes | None = None
    tokens: tuple[tuple[bytes, str], ...] = ()
    slack: dict[str, str] = field(default_factory=dict)
    header: str | None = None
    """Lower-case name of the trusted identity header; None = no header is trusted."""

    @classmethod
    def build(cls, *, service_token: str | None, tokens: str | None = None,
              slack: str = "", header: str = "") -> Directory:
        pairs = parse_tokens(tokens)
        service = _digest(service_token) if service_token else None
        if service is not None and any(hmac.compare_digest(d, service) for d, _ in pairs):
            raise TransientError("CONSOLE_APPROVER_TOKENS holds the service token "
                                 "(CONSOLE_API_TOKEN): give every person a token of their own")
        if header.strip() and service is None and not pairs:
            # Sessions bound to the header are signed with the tokens: without any, none could be.
            raise TransientError("CONSOLE_IDENTITY_HEADER needs CONSOLE_API_TOKEN or personal "
                                 "tokens to sign the sessions its forms are bound to")
        return cls(service=service, tokens=pairs, slack=parse_slack(slack),
                   header=header.strip().lower() or None)

    def by_token(self, presented: str | None) -> Identity:
        """The identity a bearer token proves; AuthError for a missing or unknown token."""
        if self.service is None and not self.tokens:
            raise AuthError("no token is configured for this endpoint; refusing every request")
        if not presented:
            raise AuthError("missing bearer token (Authorization: Bearer <token>)")
        digest = _digest(presented)
        found: Identity | None = None
        # Every entry is compared, whatever matched: the time taken says nothing about which.
        if self.service is not None and hmac.compare_digest(self.service, digest):
            found = SERVICE
        for candidate, person in self.tokens:
            if hmac.compare_digest(candidate, digest) and found is None:
                found = Identity(person, "token")
        if found is None:
            raise AuthError("invalid bearer token")
        return found

    def by_slack(self, user_id: str) -> Identity:
        """The person a (verified) Slack user id stands for; 403 for anyone unmapped."""
        person = self.slack.get(user_id)
        if person is None:
            raise PermanentError(f"Slack user {user_id[:24]!r} is not mapped to an approver "
                                 "(CONSOLE_SLACK_APPROVERS)", status=403)
        return Identity(person, "slack")

    def by_header(self, headers: dict[str, str]) -> Identity | None:
        """The proxy's identity header, when one is trusted and present and well-formed."""
        if self.header is None:
            return None
        value = headers.get(self.header, "").strip()  # sent twice: comma-joined, refused below
        if not _HEADER_VALUE.match(value):
            return None
        return Identity(value, "header")

    def session_material(self) -> str | None:
        """What web logins are signed with: the service token and every personal token's
        digest. Holding the service token alone (the sweep's) is not enough to forge a login,
        and changing any token logs everybody out."""
        if self.service is None and not self.tokens:
            return None
        parts = [self.service.hex() if self.service else ""]
        parts += sorted(f"{d.hex()}:{person}" for d, person in self.tokens)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
