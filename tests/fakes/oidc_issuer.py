"""A service-account issuer on a loopback port: its discovery document and its JWKS, as the
Kubernetes API server serves them (to authenticated callers), and tokens minted with its keys
the way Knative's dispatcher gets them (TokenRequest with the subscriber's audience).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes.serving import QuietHandler, serve_in_thread

SUBJECT = "system:serviceaccount:knative-eventing:oidc-trigger-router-alerts"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issuer:
    url: str
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    """kid → private key; the JWKS publishes their public halves."""
    required_token: str | None = None
    """When set, the discovery document and the JWKS need `Authorization: Bearer <it>`."""
    fetches: list[str] = field(default_factory=list)
    down: bool = False

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            out.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": out}

    def mint(self, *, audience: str, kid: str | None = None, issuer: str | None = None,
             subject: str = SUBJECT, lifetime: float = 600, issued: float | None = None,
             key: rsa.RSAPrivateKey | None = None) -> str:
        kid = kid or next(iter(self.keys))
        now = time.time() if issued is None else issued
        claims = {"iss": issuer or self.url, "aud": [audience], "sub": subject,
                  "iat": int(now), "nbf": int(now), "exp": int(now + lifetime)}
        return jwt.encode(claims, key or self.keys[kid], algorithm="RS256",
                          headers={"kid": kid})


@contextmanager
def running_issuer(*, required_token: str | None = None) -> Iterator[Issuer]:
    issuer: Issuer

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            issuer.fetches.append(self.path)
            if issuer.down:
                return self.reply_json(503, {"message": "unavailable"})
            if issuer.required_token and self.headers.get(
                    "authorization") != f"Bearer {issuer.required_token}":
                return self.reply_json(401, {"kind": "Status", "code": 401})
            if self.path == "/.well-known/openid-configuration":
                return self.reply_json(200, {"issuer": issuer.url,
                                             "jwks_uri": issuer.url + "/openid/v1/jwks",
                                             "id_token_signing_alg_values_supported": ["RS256"]})
            if self.path == "/openid/v1/jwks":
                return self.reply_json(200, issuer.jwks())
            return self.reply_json(404, {"code": 404})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = Issuer(url=f"http://127.0.0.1:{server.server_port}", keys={"k1": rsa_key()},
                    required_token=required_token)
    with serve_in_thread(server):
        yield issuer
