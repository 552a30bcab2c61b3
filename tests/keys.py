"""One keyring for the whole test run, and the one helper every test signs events through.

The functions verify each delivery's producer (`orchestrator.provenance`); tests that post
events straight to a function sign them here as the producer the type comes from, exactly as
the real producer would, so a test that skips this gets the 401 a forger gets.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from orchestrator.local.keyring import ensure_keyring, key_env
from orchestrator.provenance import (
    PRODUCERS,
    SIGNATURE,
    SIGNER_KEY,
    Keyring,
    Signer,
    load_keyring,
    signer_from_pem,
)

KEYS = Path(tempfile.mkdtemp(prefix="orchestrator-test-keys-"))
atexit.register(shutil.rmtree, KEYS, True)
ensure_keyring(KEYS)


def env(function: str) -> dict[str, str]:
    """The settings that give `function` its private key and everyone's public keys."""
    return key_env(KEYS, function)


@cache
def signer(function: str) -> Signer:
    return signer_from_pem(function, (KEYS / f"{function}.key").read_text())


def producer_of(type_: str) -> str:
    producers = PRODUCERS[type_]
    return "executor" if len(producers) > 1 else next(iter(producers))


def now_z() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def seal(headers: dict[str, str], body: bytes, producer: str | None = None) -> dict[str, str]:
    """Binary-mode `headers` signed as `producer` (default: the one the type comes from):
    `ce-source` becomes the producer's and `ce-time` is set to now unless given."""
    lower = {k.lower(): v for k, v in headers.items()
             if k.lower() not in (f"ce-{SIGNATURE}", f"ce-{SIGNER_KEY}")}
    who = producer or producer_of(lower["ce-type"])
    lower["ce-source"] = f"/orchestrator/{who}"
    lower.setdefault("ce-time", now_z())
    lower.setdefault("ce-subject", lower.get("ce-incidentkey", ""))
    attrs = {k[3:]: v for k, v in lower.items() if k.startswith("ce-")}
    lower.update({f"ce-{k}": v for k, v in signer(who).seal(attrs, body).items()})
    return lower


@cache
def rogue(function: str) -> Signer:
    """A key that claims to be `function`'s but is in nobody's keyring (a forger's)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                     NoEncryption())
    return signer_from_pem(function, pem.decode())


def keyring() -> Keyring:
    """Every function's public key, as a verifier holds them."""
    return load_keyring(KEYS / "public", max_age=timedelta(minutes=15), skew=timedelta(minutes=1))
