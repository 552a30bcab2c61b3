"""Bearer-token checks for the inbound HTTP endpoints, in constant time."""

from __future__ import annotations

import hashlib
import hmac

from orchestrator.errors import AuthError


def bearer_from_header(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_token(presented: str | None, expected: str | None) -> None:
    """Raise AuthError unless `presented` equals `expected`, compared in constant time.

    `expected is None` means no token is configured: that refuses everything, since switching
    authentication off is an explicit setting checked by the caller, never an accident.
    """
    if expected is None:
        raise AuthError("no token is configured for this endpoint; refusing every request")
    if presented is None:
        raise AuthError("missing bearer token (Authorization: Bearer <token>)")
    # Digests of equal length: compare_digest on the raw strings would still leak the length.
    if not hmac.compare_digest(hashlib.sha256(presented.encode()).digest(),
                               hashlib.sha256(expected.encode()).digest()):
        raise AuthError("invalid bearer token")
