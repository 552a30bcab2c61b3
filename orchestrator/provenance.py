"""Who sent an event: each stage signs what it emits with its own Ed25519 key, and each consumer
checks that the producer it expects for that event type signed it, recently.

Inside a cluster any pod can POST to a function or to the broker, so an event's `source` says
nothing. A signature binds the event's type, source, subject, id, time, incident and partition
keys and the exact data bytes; it travels as two CloudEvents extension attributes (`signature`,
`signerkey`) that the local broker and Kafka (binary content mode: attributes are record
headers) pass through untouched. Asymmetric keys mean a verifier cannot forge: the console holds
every public key and no private key but its own.

A signature proves who signed, never that what they signed is true: the executor still reads
the cluster itself before it acts. Unsigned, wrongly signed, foreign (a producer this type does
not come from) and stale events (signed time outside the freshness window) are refused with
401 before anything is done or recorded.

`cryptography` is imported when the first key is loaded, not at import (cold start).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.cloudevent_http import attributes_of, binary_headers
from orchestrator.envelope import SOURCE_PREFIX, Event, Outgoing, to_binary
from orchestrator.errors import PermanentError
from orchestrator.events import ROLES
from orchestrator.times import rfc3339

if TYPE_CHECKING:
    from pydantic import SecretStr

SIGNATURE = "signature"
"""Extension attribute: base64 of the 64-byte Ed25519 signature."""
SIGNER_KEY = "signerkey"
"""Extension attribute: `<function>/<key id>`, which of the producer's keys signed."""
SCHEME = "io1"
"""Version of the signed message layout (first field of the signed header line)."""

PRODUCERS: dict[str, frozenset[str]] = {t: role.producers for t, role in ROLES.items()}
"""Event type → the only functions that may sign it (the design's event contract)."""

# RFC 8410: an Ed25519 PKCS#8 v1 key is this prefix + the 32-byte seed; a SubjectPublicKeyInfo
# is this prefix + the 32-byte public key (inside a PUBLIC KEY PEM or a certificate).
_PKCS8 = bytes.fromhex("302e020100300506032b657004220420")
_SPKI = bytes.fromhex("302a300506032b6570032100")


class Unauthenticated(PermanentError):
    """The event does not carry a valid, fresh signature of a producer its type comes from."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=401)


def signed_message(attrs: Mapping[str, Any], data: bytes) -> bytes:
    """The bytes a signature covers: one JSON line of attributes, then the data verbatim."""
    fields = [SCHEME, *(str(attrs.get(n) or "") for n in (
        "type", "source", "subject", "id", "time", "incidentkey", "partitionkey"))]
    return json.dumps(fields, separators=(",", ":")).encode() + b"\n" + data


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """One function's private key: signs every event that function emits."""

    function: str
    key_id: str
    sign_bytes: Callable[[bytes], bytes]
    """The raw Ed25519 signature over some bytes."""

    def seal(self, attrs: Mapping[str, Any], data: bytes) -> dict[str, str]:
        """The extension attributes that authenticate an event with these attributes and data."""
        if attrs.get("source") != SOURCE_PREFIX + self.function:
            raise ValueError(f"the {self.function} key signs only its own events, not "
                             f"{attrs.get('source')!r}")
        signature = self.sign_bytes(signed_message(attrs, data))
        return {SIGNATURE: base64.b64encode(signature).decode(),
                SIGNER_KEY: f"{self.function}/{self.key_id}"}

    def sealed(self, out: Outgoing) -> Outgoing:
        """The same event, signed when it is encoded (`envelope.to_binary`)."""
        return replace(out, seal=self.seal)

    def encode(self, out: Outgoing) -> tuple[dict[str, str], bytes]:
        """Binary-mode headers and body of the signed event, to POST to the broker."""
        return to_binary(self.sealed(out))


def signer_from_pem(function: str, pem: str) -> Signer:
    """A Signer from a PKCS#8 PEM Ed25519 private key (what openssl and sprig write)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    der = _pem_body(pem, "PRIVATE KEY")
    if der is not None and len(der) == 48 and der.startswith(_PKCS8):
        key = Ed25519PrivateKey.from_private_bytes(der[len(_PKCS8):])
    else:
        key = _load_private(pem)
    return Signer(function, key_id(key.public_key().public_bytes_raw()), key.sign)


def _load_private(pem: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as e:
        raise PermanentError(f"signing key is not a PEM private key: {e}") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise PermanentError(f"signing key is {type(key).__name__}, not Ed25519")
    return key


def public_key_from_pem(pem: str) -> bytes:
    """The raw 32-byte Ed25519 public key in a PUBLIC KEY PEM or a CERTIFICATE PEM."""
    for label in ("PUBLIC KEY", "CERTIFICATE"):
        der = _pem_body(pem, label)
        if der is None:
            continue
        at = der.find(_SPKI)
        if at < 0 or der.find(_SPKI, at + 1) >= 0 or len(der) < at + len(_SPKI) + 32:
            raise PermanentError(f"{label} holds no single Ed25519 public key")
        return der[at + len(_SPKI): at + len(_SPKI) + 32]
    raise PermanentError("not a PEM public key or certificate")


def _pem_body(pem: str, label: str) -> bytes | None:
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    start = pem.find(begin)
    stop = pem.find(end, start + 1)
    if start < 0 or stop < 0:
        return None
    try:
        return base64.b64decode("".join(pem[start + len(begin):stop].split()), validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class Keyring:
    """The public keys a function verifies with, and its freshness window."""

    keys: Mapping[str, tuple[str, bytes]]
    """`<function>/<key id>` → (function, raw public key)."""
    max_age: timedelta = timedelta(minutes=15)
    skew: timedelta = timedelta(minutes=1)

    def producers(self) -> set[str]:
        return {function for function, _ in self.keys.values()}

    def check(self, event: Event, *, now: datetime,
              expect: Mapping[str, frozenset[str]] = PRODUCERS) -> str:
        """The function that signed `event`, or Unauthenticated (401) saying why not."""
        allowed = expect.get(event.type)
        if not allowed:
            raise Unauthenticated(f"no producer is trusted for {event.type!r} here")
        ext = event.extensions
        signature, signer = ext.get(SIGNATURE), ext.get(SIGNER_KEY)
        if not signature or not signer:
            raise Unauthenticated(f"{event.type} is not signed: every hop signs what it emits")
        function = signer.partition("/")[0]
        if function not in allowed:
            raise Unauthenticated(f"{event.type} comes from {' or '.join(sorted(allowed))}, "
                                  f"not {function!r}")
        if event.source != SOURCE_PREFIX + function:
            raise Unauthenticated(f"source {event.source!r} is not the signer's "
                                  f"({SOURCE_PREFIX}{function})")
        if not self.keys:
            raise Unauthenticated("this function has no public keys to verify with "
                                  "(its <FUNCTION>_PUBLIC_KEYS_DIR setting)")
        known = self.keys.get(signer)
        if known is None or known[0] != function:
            raise Unauthenticated(f"unknown signing key {signer!r} (not among this "
                                  "function's public keys)")
        if event.raw is None:
            raise Unauthenticated("signed events travel in binary content mode")
        attrs = {"type": event.type, "source": event.source, "subject": event.subject,
                 "id": event.id, "time": event.time, **ext}
        if not _valid(known[1], signature, signed_message(attrs, event.raw)):
            raise Unauthenticated(f"the {function} signature does not verify: the event was "
                                  "altered, or the key did not sign it")
        self._fresh(event, now)
        return function

    def _fresh(self, event: Event, now: datetime) -> None:
        at = signed_time(event)
        if at > now + self.skew:
            raise Unauthenticated(f"signed time {event.time} is in the future")
        if at < now - self.max_age:
            raise Unauthenticated(f"stale: signed at {event.time}, more than "
                                  f"{self.max_age.total_seconds():g}s ago")


def signed_time(event: Event) -> datetime:
    """The event's `time` attribute (covered by its signature), timezone-aware."""
    try:
        return rfc3339(event.time, naive_as_utc=True)
    except ValueError as e:
        raise Unauthenticated(f"signed time {event.time!r} is not a timestamp") from e


def _valid(public_raw: bytes, signature: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public_raw).verify(raw, message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def load_keyring(folder: Path | None, *, max_age: timedelta, skew: timedelta) -> Keyring:
    """Every public key in `folder`: `<function>.crt|.pem|.pub`, more than one per function
    while keys rotate (`agent.crt`, `agent.next.crt`). No folder means no trusted producer."""
    keys: dict[str, tuple[str, bytes]] = {}
    if folder is not None:
        try:
            files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        except OSError as e:
            raise PermanentError(f"cannot read public keys from {folder}: {e.strerror}") from e
        for path in files:
            if path.suffix not in (".crt", ".pem", ".pub") or not path.is_file():
                continue
            function = path.name.split(".")[0]
            try:
                raw = public_key_from_pem(path.read_text(encoding="ascii"))
            except (OSError, UnicodeDecodeError, PermanentError) as e:
                raise PermanentError(f"public key file {path.name}: {e}") from e
            keys[f"{function}/{key_id(raw)}"] = (function, raw)
    return Keyring(keys, max_age=max_age, skew=skew)


def load_signer(function: str, pem: str | None) -> Signer | None:
    """This function's Signer, or None when it has no key (it then cannot emit anything)."""
    return signer_from_pem(function, pem) if pem else None


def identity(function: str, *, key: SecretStr | None,
             public_keys_dir: Path | None = None, max_age_seconds: float = 900.0,
             skew_seconds: float = 60.0) -> tuple[Signer | None, Keyring]:
    """A function's Signer and Keyring from its settings (`<PREFIX>SIGNING_KEY[_FILE]`,
    `<PREFIX>PUBLIC_KEYS_DIR`), logging what is missing: a function without its key can emit
    nothing anyone accepts, one without public keys accepts nothing."""
    import logging

    from orchestrator.settings.common import reveal

    log = logging.getLogger(__name__)
    name = f"{function.upper()}_SIGNING_KEY"
    signer = load_signer(function, reveal(key))
    if signer is None:
        log.error("no %s: nothing this %s emits can be verified, so it emits nothing", name,
                  function)
    keyring = load_keyring(public_keys_dir, max_age=timedelta(seconds=max_age_seconds),
                           skew=timedelta(seconds=skew_seconds))
    return signer, keyring


class KeySettings(Protocol):
    """The key fields of the functions that verify what they receive (router, agent,
    executor, console): `<PREFIX>SIGNING_KEY[_FILE]`, `PUBLIC_KEYS_DIR` and the freshness window."""

    @property
    def signing_key(self) -> SecretStr | None: ...
    @property
    def public_keys_dir(self) -> Path | None: ...
    @property
    def event_max_age_seconds(self) -> float: ...
    @property
    def clock_skew_seconds(self) -> float: ...


def identity_of(function: str, settings: KeySettings) -> tuple[Signer | None, Keyring]:
    """`identity` as a verifying function's settings describe it."""
    s = settings
    return identity(function, key=s.signing_key,
                    public_keys_dir=s.public_keys_dir, max_age_seconds=s.event_max_age_seconds,
                    skew_seconds=s.clock_skew_seconds)


def require(signer: Signer | None, function: str) -> Signer:
    """The Signer, or a TransientError (503: the broker retries, then dead-letters)."""
    from orchestrator.errors import TransientError

    if signer is None:
        raise TransientError(f"the {function} has no signing key ({function.upper()}"
                             "_SIGNING_KEY): it cannot emit events anyone would accept")
    return signer


_SEAL_HEADERS = frozenset({f"ce-{SIGNATURE}", f"ce-{SIGNER_KEY}"})


class SealingPublisher:
    """A broker publisher that signs each binary-mode event of its own it POSTs (ingest, the
    console)."""

    def __init__(self, inner: Any, signer: Signer) -> None:
        self.inner = inner
        self.signer = signer

    def publish(self, headers: dict[str, str], body: bytes) -> None:
        attrs = attributes_of(headers)
        if attrs.get("source") != SOURCE_PREFIX + self.signer.function:
            # Another producer's event re-sent as it was (a dead letter): it keeps its own
            # signature, which its consumer checks, freshness included. Never re-signed here.
            self.inner.publish(headers, body)
            return
        sealed = {k: v for k, v in headers.items() if k not in _SEAL_HEADERS}
        sealed.update(binary_headers(self.signer.seal(attrs, body)))
        self.inner.publish(sealed, body)
