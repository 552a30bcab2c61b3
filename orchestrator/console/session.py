"""Web logins without server-side state: a signed cookie, and CSRF tokens bound to it.

Logging in takes a personal token, and the cookie holds the person that token belongs to (never
a typed name), how they proved it (`login`, or `header` for a session bound to an authenticating
proxy's identity header) and an expiry. It is signed (itsdangerous, HMAC-SHA256) with a key
derived from every token the console knows (`Directory.session_material`): the service token
alone, which the sweep holds, is not enough to forge one, and changing any token logs everybody
out. It is HttpOnly and SameSite=Strict, and every form POST also carries a CSRF token derived
from the cookie, so another site can neither read nor forge either.

Logging out ends the session for good: the cookie's digest is recorded (`sessions-ended/`, one
small object until the cookie would have expired anyway, then the sweep drops it), so a copy of
the cookie replayed after logout is refused like a forged one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.console.identity import Identity

if TYPE_CHECKING:
    from itsdangerous import Signer, URLSafeSerializer

COOKIE = "console_session"
ENDED = "sessions-ended"


@dataclass(frozen=True)
class Sessions:
    material: str | None
    """The signing material (`Directory.session_material`); None = nobody can log in."""
    lifetime_seconds: float
    secure: bool = False

    def _cookies(self) -> URLSafeSerializer:
        # itsdangerous (Flask's own cookie signer, so already loaded: no cold-start cost) signs
        # and encodes; the salt keeps a cookie's key apart from the CSRF tokens'.
        from itsdangerous import URLSafeSerializer

        assert self.material is not None
        return URLSafeSerializer(self.material, salt="console-session",
                                 signer_kwargs={"digest_method": hashlib.sha256})

    def _csrf_signer(self) -> Signer:
        from itsdangerous import Signer

        assert self.material is not None
        return Signer(self.material, salt="console-csrf", digest_method=hashlib.sha256)

    def issue(self, who: Identity, *, now: float) -> str:
        """A cookie for an identity the console authenticated (a token login or the proxy)."""
        via = "header" if who.via == "header" else "session"
        # The nonce makes every login its own cookie, so logging one out ends no other.
        return self._cookies().dumps({"u": who.name, "v": via,
                                      "exp": int(now + self.lifetime_seconds),
                                      "n": secrets.token_hex(8)})

    def read(self, cookie: str | None, *, now: float) -> Identity | None:
        """Who logged in, or None for a missing, forged or expired cookie."""
        from itsdangerous import BadData

        if not cookie or self.material is None:
            return None
        try:
            doc = self._cookies().loads(cookie)
        except (BadData, UnicodeError):
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("u"), str) or not doc["u"]:
            return None
        if not isinstance(doc.get("exp"), int) or doc["exp"] < now:
            return None
        return Identity(str(doc["u"]), "header" if doc.get("v") == "header" else "session")

    def expiry(self, cookie: str) -> int | None:
        """When a cookie `read` accepted expires (its signed `exp`), for the logout record."""
        if self.material is None:
            return None
        try:
            _, doc = self._cookies().loads_unsafe(cookie)
        except UnicodeError:
            return None
        exp: Any = doc.get("exp") if isinstance(doc, dict) else None
        return exp if isinstance(exp, int) else None

    def csrf(self, cookie: str) -> str:
        return self._csrf_signer().get_signature(cookie).decode()

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token or self.material is None:
            return False
        try:
            return self._csrf_signer().verify_signature(cookie, token)
        except UnicodeError:
            return False

    def set_cookie(self, value: str) -> str:
        secure = "; Secure" if self.secure else ""
        return (f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; "
                f"Max-Age={int(self.lifetime_seconds)}{secure}")

    def clear_cookie(self) -> str:
        secure = "; Secure" if self.secure else ""
        return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"


def cookie_value(headers: dict[str, str]) -> str | None:
    """Our cookie's value from a Cookie header (other cookies ignored)."""
    raw = headers.get("cookie", "")
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


def _ended_key(sessions: Sessions, cookie: str) -> str | None:
    exp = sessions.expiry(cookie)
    if exp is None:
        return None
    return f"{ENDED}/{exp}-{hashlib.sha256(cookie.encode()).hexdigest()[:40]}"


def end(store: ObjectStore, sessions: Sessions, cookie: str | None) -> None:
    """Record a logout, so this cookie is refused from now on (it stays signed until `exp`)."""
    key = _ended_key(sessions, cookie) if cookie else None
    if key is not None:
        store.put(key, b"", content_type="text/plain", if_absent=True)


def ended(store: ObjectStore, sessions: Sessions, cookie: str) -> bool:
    key = _ended_key(sessions, cookie)
    return key is not None and store.get(key) is not None


def forget_ended(store: ObjectStore, *, now: float) -> int:
    """Drop logout records of cookies that have expired anyway (the sweep calls this)."""
    dropped = 0
    for key in store.list(f"{ENDED}/"):
        exp = key.rsplit("/", 1)[-1].split("-", 1)[0]
        if exp.isascii() and exp.isdigit() and len(exp) <= 12 and int(exp) < now:
            store.delete(key)
            dropped += 1
    return dropped
