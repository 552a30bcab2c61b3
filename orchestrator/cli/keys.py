"""`orchestrator keys secret`: the release's Secret, made once, for `secrets.existingSecret`.

The chart generates tokens and key pairs it is not given and keeps them by looking up the live
Secret. `helm template`, and so Argo CD and Flux, cannot look anything up: each render would
generate new ones and rotate the Alertmanager token and every signing key on each sync. This
command makes the same material once (tokens, one Ed25519 key pair per function: `<fn>.key` as
PKCS#8 PEM, `<fn>.crt` a self-signed certificate holding its public key, as the chart writes
them) and prints a Secret manifest to apply once and name in `secrets.existingSecret`.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

FUNCTIONS = ("ingest", "router", "agent", "executor", "console")
TOKENS = {"ingest-token": 48, "api-token": 48}
BUNDLED_STORES = {"minio-access-key": 20, "minio-secret-key": 40, "qdrant-api-key": 40}


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="make the release's tokens and signing keys once "
                          "(for secrets.existingSecret: helm template, Argo CD, Flux)")
    verbs = keys.add_subparsers(dest="verb", required=True)
    sec = verbs.add_parser("secret", help="print a Secret manifest to apply once")
    sec.add_argument("--name", default="orchestrator-managed-secrets",
                     help="the Secret's name, as secrets.existingSecret will say it")
    sec.add_argument("--namespace", default="incident-orchestrator")
    sec.add_argument("--no-bundled-stores", action="store_true",
                     help="leave out the bundled MinIO's and Qdrant's credentials (external "
                     "stores: add yours to the Secret)")
    sec.set_defaults(run=_secret)


def key_pair(function: str) -> tuple[str, str]:
    """(`<fn>.key` PKCS#8 PEM, `<fn>.crt` PEM certificate holding its public key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )
    from cryptography.x509.oid import NameOID

    key = Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         f"incident-orchestrator {function}")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=36500))
            .sign(key, algorithm=None))
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    return pem, cert.public_bytes(Encoding.PEM).decode()


def secret_data(*, bundled_stores: bool = True) -> dict[str, str]:
    """Every generated value of the release's Secret, by key."""
    data = {k: secrets.token_hex(n // 2) for k, n in TOKENS.items()}
    if bundled_stores:
        data.update({k: secrets.token_hex(n // 2) for k, n in BUNDLED_STORES.items()})
    for fn in FUNCTIONS:
        data[f"{fn}.key"], data[f"{fn}.crt"] = key_pair(fn)
    return data


def manifest(name: str, namespace: str, data: dict[str, str]) -> str:
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {name}",
             f"  namespace: {namespace}", "type: Opaque", "data:"]
    lines += [f"  {k}: {base64.b64encode(v.encode()).decode()}" for k, v in sorted(data.items())]
    return "\n".join(lines) + "\n"


def _secret(args: argparse.Namespace) -> int:
    data = secret_data(bundled_stores=not args.no_bundled_stores)
    sys.stdout.write(manifest(args.name, args.namespace, data))
    print(f"# apply once: orchestrator keys secret ... | kubectl apply -f -; then install with "
          f"--set secrets.existingSecret={args.name}", file=sys.stderr)
    return 0
