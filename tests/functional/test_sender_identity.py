"""Knative's sender identity (OIDC), verified at the broker-facing edges when configured.

A local issuer publishes its keys (discovery document + JWKS, behind a bearer token as the API
server does); tokens are minted with them as Knative's dispatcher would get them. The right
audience passes on to the event signature check; a missing token, another audience, an expired
token, another issuer, a signature by another key or a shared-secret algorithm is refused with
401, the body unread and nothing recorded. Off by default.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from orchestrator import sender
from tests.fakes.oidc_issuer import Issuer, rsa_key, running_issuer
from tests.fakes.sink import Sink
from tests.functional.console_support import AUTH, Story, console_app, console_env, wire

AUDIENCE = "serving.knative.dev/service/incidents/orchestrator-console"
SA_TOKEN = "the-console-pods-own-service-account-token"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer(required_token=SA_TOKEN) as i:
        yield i


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    sender.reset()
    yield
    sender.reset()
    __import__("orchestrator.console.service").console.service.instance.reset()


def console(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch, issuer: Issuer,
            **extra: str) -> Any:
    token_file = tmp_path / "sa-token"
    token_file.write_text(SA_TOKEN + "\n")
    env = {"CONSOLE_OIDC_AUDIENCE": AUDIENCE, "CONSOLE_OIDC_ISSUER": issuer.url,
           "CONSOLE_OIDC_TOKEN_FILE": str(token_file), **extra}
    console_env(monkeypatch, tmp_path / "audit", sink.url, **env)
    return console_app().test_client()


def post_event(client: Any, story: Story, token: str | None) -> Any:
    headers, body = wire(story.alert_received())
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/events", data=body, headers=headers)


def recorded(client: Any, story: Story) -> bool:
    return client.get(f"/api/incidents/{story.key}", headers=AUTH).status_code == 200


def test_a_token_for_this_audience_is_accepted(tmp_path, sink, monkeypatch, issuer) -> None:  # type: ignore[no-untyped-def]
    client = console(tmp_path, sink, monkeypatch, issuer)
    story = Story()
    r = post_event(client, story, issuer.mint(audience=AUDIENCE))
    assert r.status_code == 202, r.data
    assert recorded(client, story)
    # Keys found through the discovery document, fetched with the pod's own token, once.
    assert issuer.fetches == ["/.well-known/openid-configuration", "/openid/v1/jwks"]
    assert post_event(client, Story(fingerprint="1b2c3d4e5f60718a"),
                      issuer.mint(audience=AUDIENCE)).status_code == 202
    assert len(issuer.fetches) == 2


def _hs256(issuer: Issuer) -> str:
    # The classic confusion: a shared-secret token "signed" with the issuer's public key.
    return jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "sub": "x", "iat": int(time.time()),
                       "exp": int(time.time()) + 600}, "k" * 32, algorithm="HS256",
                      headers={"kid": "k1"})


REFUSED = {
    "missing": (lambda i: None, "no sender identity token"),
    "wrong audience": (lambda i: i.mint(audience="serving.knative.dev/service/incidents/"
                                                 "orchestrator-executor"),
                       "not for this function"),
    "expired": (lambda i: i.mint(audience=AUDIENCE, issued=time.time() - 7200, lifetime=600),
                "expired"),
    "wrong issuer": (lambda i: i.mint(audience=AUDIENCE, issuer="https://evil.example"),
                     "not issued by"),
    "bad signature": (lambda i: i.mint(audience=AUDIENCE, key=rsa_key()),
                      "signature does not verify"),
    "shared-secret algorithm": (_hs256, "algorithm 'HS256' is not accepted"),
    "not a JWT": (lambda i: "not-a-jwt", "not a JWT"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_delivery_without_a_valid_token_is_refused_and_not_recorded(  # type: ignore[no-untyped-def]
        tmp_path, sink, monkeypatch, issuer, case: str) -> None:
    client = console(tmp_path, sink, monkeypatch, issuer)
    make, why = REFUSED[case]
    story = Story()
    r = post_event(client, story, make(issuer))
    assert r.status_code == 401, r.data
    assert why in r.get_json()["error"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert not recorded(client, story)


def test_the_dead_letter_sink_checks_it_too(tmp_path, sink, monkeypatch, issuer) -> None:  # type: ignore[no-untyped-def]
    client = console(tmp_path, sink, monkeypatch, issuer)
    headers, body = wire(Story().alert_received())
    assert client.post("/deadletter", data=body, headers=headers).status_code == 401
    assert client.get("/api/deadletters", headers=AUTH).get_json()["deadletters"] == []
    headers["Authorization"] = f"Bearer {issuer.mint(audience=AUDIENCE)}"
    assert client.post("/deadletter", data=body, headers=headers).status_code == 202
    assert len(client.get("/api/deadletters", headers=AUTH).get_json()["deadletters"]) == 1


def test_the_api_is_not_a_delivery(tmp_path, sink, monkeypatch, issuer) -> None:  # type: ignore[no-untyped-def]
    """The API's bearer is a person's or the service token, not Knative's."""
    client = console(tmp_path, sink, monkeypatch, issuer)
    assert client.get("/api/incidents", headers=AUTH).status_code == 200


def test_a_rotated_issuer_key_is_fetched_once_then_refetches_are_bounded(  # type: ignore[no-untyped-def]
        tmp_path, sink, monkeypatch, issuer) -> None:
    client = console(tmp_path, sink, monkeypatch, issuer,
                     CONSOLE_OIDC_JWKS_URL="")  # empty = discovered
    assert post_event(client, Story(), issuer.mint(audience=AUDIENCE)).status_code == 202
    issuer.keys["k2"] = rsa_key()  # the issuer rotates: tokens now name k2
    # Within the refresh period an unknown kid does not refetch (no fetch storm from forgeries).
    assert post_event(client, Story(fingerprint="2b2c3d4e5f60718a"),
                      issuer.mint(audience=AUDIENCE, kid="k2")).status_code == 401
    identity = sender._identity("console")
    assert identity is not None
    identity._fetched_at = time.time() - identity.issuer.refresh_seconds  # the period passed
    assert post_event(client, Story(fingerprint="3b2c3d4e5f60718a"),
                      issuer.mint(audience=AUDIENCE, kid="k2")).status_code == 202


def test_an_unreachable_issuer_is_a_retry_not_a_refusal(tmp_path, sink, monkeypatch, issuer) -> None:  # type: ignore[no-untyped-def]
    client = console(tmp_path, sink, monkeypatch, issuer)
    issuer.down = True
    r = post_event(client, Story(), issuer.mint(audience=AUDIENCE))
    assert r.status_code == 503, r.data  # the broker retries, then dead-letters


def test_keys_fetched_without_the_pods_token_are_refused_loudly(  # type: ignore[no-untyped-def]
        tmp_path, sink, monkeypatch, issuer) -> None:
    client = console(tmp_path, sink, monkeypatch, issuer, CONSOLE_OIDC_TOKEN_FILE="")
    r = post_event(client, Story(), issuer.mint(audience=AUDIENCE))
    assert r.status_code == 503 and "discovery document" in r.get_json()["error"]


def test_off_by_default(tmp_path, sink, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    console_env(monkeypatch, tmp_path / "audit", sink.url)
    client = console_app().test_client()
    story = Story()
    assert post_event(client, story, None).status_code == 202
    assert recorded(client, story)


@pytest.mark.parametrize("function", ["router", "agent", "executor"])
def test_router_agent_and_executor_check_it_before_the_signature(  # type: ignore[no-untyped-def]
        monkeypatch, issuer, function: str) -> None:
    import functions_framework

    from tests.functional.console_support import ROOT

    audience = f"serving.knative.dev/service/incidents/orchestrator-{function}"
    prefix = function.upper()
    monkeypatch.setenv(f"{prefix}_OIDC_AUDIENCE", audience)
    monkeypatch.setenv(f"{prefix}_OIDC_ISSUER", issuer.url)
    monkeypatch.setenv(f"{prefix}_OIDC_JWKS_URL", issuer.url + "/openid/v1/jwks")
    issuer.required_token = None  # a public JWKS, as managed clusters publish it
    client = functions_framework.create_app(
        target="handle", source=str(ROOT / f"functions/{function}/main.py"),
        signature_type="http").test_client()
    headers, body = wire(Story().alert_received())
    r = client.post("/", data=body, headers=headers)
    assert r.status_code == 401 and "sender identity" in r.get_json()["error"]
    headers["Authorization"] = f"Bearer {issuer.mint(audience=AUDIENCE)}"  # the console's
    r = client.post("/", data=body, headers=headers)
    assert r.status_code == 401 and "not for this function" in r.get_json()["error"]
    assert issuer.fetches == ["/openid/v1/jwks"]  # the configured URL, no discovery
    # Its own audience passes the door; the event itself is then judged by its signature
    # (an alert is ingest's to sign and the router's to take: others refuse it by type).
    headers["Authorization"] = f"Bearer {issuer.mint(audience=audience)}"
    r = client.post("/", data=body, headers=headers)
    if function == "router":
        assert r.status_code == 200 and r.headers["ce-type"] == "incident.context.enriched"
    else:
        assert r.status_code == 400 and "does not handle" in r.get_json()["error"]
