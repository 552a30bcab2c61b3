"""Knative's sender identity: the OIDC token its dispatcher adds to a delivery, verified.

Where Knative Eventing's `authentication-oidc` feature is on, the broker's dispatcher asks the
API server for a service-account token whose audience is the subscriber's (the Trigger's
`subscriber.audience`) and sends it as `Authorization: Bearer <JWT>`. Checking it here says a
delivery came through Knative for this very function, not from any pod that can reach it.

It is defence in depth, never the guarantee: the event signatures (`orchestrator.provenance`)
still decide what each function accepts, and a valid token proves nothing about an event's
content. Off unless an audience is configured.

The signing keys are the cluster's service-account issuer's: its JWKS, at a configured URL or
the `jwks_uri` of `<issuer>/.well-known/openid-configuration` (the API server serves both to
service accounts; a managed cluster may publish them elsewhere, publicly). Keys are fetched
when first needed and again when a token names a key id not seen yet (the issuer rotated),
at most once per `refresh_seconds`. PyJWT and httpx are imported on the first check, not at
import (cold start).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import PermanentError, TransientError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

# Asymmetric algorithms only: a shared-secret (HS*) or `none` token is never accepted, whatever
# its header says.
ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                        "ES256", "ES384", "ES512", "EdDSA"})


class BadSender(PermanentError):
    """The delivery's sender identity token is missing or does not verify: 401."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=401)


@dataclass(frozen=True)
class Issuer:
    """What a token must match: who issued it, for whom, and where its keys are."""

    audience: str
    issuer: str
    jwks_url: str | None = None
    """None: the `jwks_uri` of the issuer's discovery document."""
    ca_file: Path | None = None
    """CA bundle for the key fetch (the API server's, in a cluster); None: the system's."""
    token_file: Path | None = None
    """A bearer token to present when fetching keys (the pod's own service-account token: the
    API server serves its issuer's keys to authenticated service accounts only)."""
    leeway_seconds: float = 60.0
    timeout_seconds: float = 5.0
    refresh_seconds: float = 30.0


class SenderIdentity:
    """Verifies `Authorization: Bearer` tokens against one issuer and one audience."""

    def __init__(self, issuer: Issuer, *, client: httpx.Client | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.issuer = issuer
        self._client = client
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def check(self, headers: Mapping[str, str]) -> str:
        """The token's subject (the sending identity), or BadSender (401) saying why not;
        TransientError (503) when the issuer's keys cannot be read."""
        import jwt

        token = _bearer(headers)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise BadSender(f"sender identity token is not a JWT: {e}") from e
        alg, kid = str(header.get("alg") or ""), str(header.get("kid") or "")
        if alg not in ALGORITHMS:
            raise BadSender(f"sender identity token algorithm {alg!r} is not accepted")
        key = self._key(kid)
        try:
            claims = jwt.decode(
                token, key=key, algorithms=[alg], audience=self.issuer.audience,
                issuer=self.issuer.issuer, leeway=self.issuer.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError as e:
            raise BadSender("sender identity token expired") from e
        except jwt.InvalidAudienceError as e:
            raise BadSender(f"sender identity token is not for this function (audience "
                            f"{self.issuer.audience!r})") from e
        except jwt.InvalidIssuerError as e:
            raise BadSender(f"sender identity token was not issued by "
                            f"{self.issuer.issuer!r}") from e
        except jwt.InvalidSignatureError as e:
            raise BadSender("sender identity token signature does not verify") from e
        except jwt.PyJWTError as e:
            raise BadSender(f"sender identity token refused: {e}") from e
        return str(claims["sub"])

    # --- keys -----------------------------------------------------------------------------

    def _key(self, kid: str) -> Any:
        with self._lock:
            if kid not in self._keys and self._may_fetch():
                self._keys = self._fetch()
                self._fetched_at = self._clock()
            if kid in self._keys:
                return self._keys[kid]
            if not kid and len(self._keys) == 1:
                return next(iter(self._keys.values()))
        raise BadSender(f"sender identity token names key {kid or '(none)'!r}, which the "
                        "issuer does not publish")

    def _may_fetch(self) -> bool:
        return (self._fetched_at is None
                or self._clock() - self._fetched_at >= self.issuer.refresh_seconds)

    def _fetch(self) -> dict[str, Any]:
        import jwt

        url = self.issuer.jwks_url or self._discover()
        document = self._get_json(url, "the issuer's keys (JWKS)")
        keys: dict[str, Any] = {}
        for entry in document.get("keys") or []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                keys[str(entry.get("kid") or "")] = jwt.PyJWK.from_dict(entry).key
            except jwt.PyJWTError as e:
                log.warning("skipping an unusable key %s of the issuer: %s", entry.get("kid"), e)
        return keys

    def _discover(self) -> str:
        url = self.issuer.issuer.rstrip("/") + "/.well-known/openid-configuration"
        uri = self._get_json(url, "the issuer's discovery document").get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise TransientError(f"{url} names no jwks_uri")
        return uri

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        import httpx

        headers = {"accept": "application/json"}
        if self.issuer.token_file is not None:
            try:
                headers["authorization"] = "Bearer " + self.issuer.token_file.read_text(
                    encoding="utf-8").strip()
            except OSError as e:
                raise TransientError(f"cannot read the token to fetch {what} with: "
                                     f"{e.strerror}") from e
        client = self._client or httpx.Client(
            verify=str(self.issuer.ca_file) if self.issuer.ca_file else True,
            timeout=self.issuer.timeout_seconds)
        try:
            response = client.get(url, headers=headers)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as e:
            raise TransientError(f"cannot read {what} at {url}: {e}") from e
        finally:
            if self._client is None:
                client.close()
        if not isinstance(document, dict):
            raise TransientError(f"{what} at {url} is not a JSON object")
        return document


def _bearer(headers: Mapping[str, str]) -> str:
    value = headers.get("authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BadSender("no sender identity token (Authorization: Bearer): this function "
                        "takes deliveries from Knative's dispatcher only")
    return token.strip()
