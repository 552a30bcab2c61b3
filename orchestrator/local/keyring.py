"""The signing keys of `orchestrator up` / `replay`: one Ed25519 key pair per function, made
once per state folder and kept, as the chart keeps its Secret across upgrades.

Layout: `keys/<function>.key` (PKCS#8 PEM, mode 0600) and `keys/public/<function>.pem` (the
public key). Each function process gets its own private key file and the public folder; to
rotate, delete a function's pair and restart (see the README's "Trust model").
"""

from __future__ import annotations

import os
from pathlib import Path

FUNCTIONS = ("ingest", "router", "agent", "executor", "console")


def ensure_keyring(folder: Path, functions: tuple[str, ...] = FUNCTIONS) -> Path:
    """Create the key pairs missing under `folder`; returns the public keys' folder."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    public = folder / "public"
    public.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for name in functions:
        private, pub = folder / f"{name}.key", public / f"{name}.pem"
        if private.exists() and pub.exists():
            continue
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        pub.write_bytes(key.public_key().public_bytes(Encoding.PEM,
                                                      PublicFormat.SubjectPublicKeyInfo))
    return public


def key_env(folder: Path, function: str) -> dict[str, str]:
    """The settings one function process reads its keys from (`<PREFIX>SIGNING_KEY_FILE`,
    `<PREFIX>PUBLIC_KEYS_DIR`); ingest verifies nothing, so it gets no public keys."""
    prefix = function.upper()
    env = {f"{prefix}_SIGNING_KEY_FILE": str(folder / f"{function}.key")}
    if function != "ingest":
        env[f"{prefix}_PUBLIC_KEYS_DIR"] = str(folder / "public")
    return env
