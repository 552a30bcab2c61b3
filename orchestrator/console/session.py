"""Web logins without server-side state: a signed cookie, and CSRF tokens bound to it.

Logging in takes the console's API token and a name (the approver identity the decisions carry,
checked against the allowlist like any other). The cookie holds the name and an expiry, signed
with a key derived from the API token: rotating the token logs everybody out. It is HttpOnly and
SameSite=Strict, and every form POST also carries a CSRF token derived from the cookie, so another
site can neither read nor forge either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

COOKIE = "console_session"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Sessions:
    api_token: str | None
    lifetime_seconds: float
    secure: bool = False

    def _key(self, purpose: str) -> bytes:
        assert self.api_token is not None
        return hmac.new(self.api_token.encode(), f"console-{purpose}".encode(),
                        hashlib.sha256).digest()

    def issue(self, name: str, *, now: float) -> str:
        payload = _b64(json.dumps({"u": name, "exp": int(now + self.lifetime_seconds)},
                                  separators=(",", ":")).encode())
        mac = hmac.new(self._key("session"), payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}"

    def read(self, cookie: str | None, *, now: float) -> str | None:
        """The logged-in name, or None for a missing, forged or expired cookie."""
        if not cookie or self.api_token is None or "." not in cookie:
            return None
        payload, _, mac = cookie.partition(".")
        expected = hmac.new(self._key("session"), payload.encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _unb64(mac)):
                return None
            doc = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("u"), str):
            return None
        if not isinstance(doc.get("exp"), int) or doc["exp"] < now:
            return None
        return str(doc["u"])

    def csrf(self, cookie: str) -> str:
        return _b64(hmac.new(self._key("csrf"), cookie.encode(), hashlib.sha256).digest())

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token or self.api_token is None:
            return False
        return hmac.compare_digest(self.csrf(cookie).encode(), token.encode())

    def set_cookie(self, value: str) -> str:
        secure = "; Secure" if self.secure else ""
        return (f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; "
                f"Max-Age={int(self.lifetime_seconds)}{secure}")

    def clear_cookie(self) -> str:
        secure = "; Secure" if self.secure else ""
        return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"


def cookie_value(headers: dict[str, str]) -> str | None:
    """Our cookie's value from a Cookie header (other cookies ignored)."""
    raw = next((v for k, v in headers.items() if k.lower() == "cookie"), "")
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None
