"""Who a token, a Slack user or a proxy's header stands for (`orchestrator.console.identity`):
the token file's format, digests, the service token's role, and errors that never echo a token."""

from __future__ import annotations

import hashlib
import json

import pytest

from orchestrator.cloudevent_http import lower_headers
from orchestrator.console.identity import SERVICE, Directory, Identity
from orchestrator.errors import AuthError, PermanentError, TransientError

ALICE_TOKEN = "alice-token-0123456789"
BOB_TOKEN = "bob-token-0123456789ab"
SERVICE_TOKEN = "service-token-0123456789"


def people(**extra: str) -> Directory:
    digest = "sha256:" + hashlib.sha256(BOB_TOKEN.encode()).hexdigest()
    return Directory.build(service_token=SERVICE_TOKEN,
                           tokens=json.dumps({ALICE_TOKEN: "alice@example.com",
                                              digest: "bob@example.com"}), **extra)


def test_tokens_and_digests_name_their_person() -> None:
    d = people()
    assert d.by_token(ALICE_TOKEN) == Identity("alice@example.com", "token")
    assert d.by_token(BOB_TOKEN) == Identity("bob@example.com", "token")
    assert d.by_token(SERVICE_TOKEN) == SERVICE and not SERVICE.is_person
    for wrong in ("", None, ALICE_TOKEN[:-1], ALICE_TOKEN + "x", "sha256:" + "0" * 64):
        with pytest.raises(AuthError):
            d.by_token(wrong)
    # A digest is not a token: presenting the file's entry itself proves nothing.
    with pytest.raises(AuthError):
        d.by_token("sha256:" + hashlib.sha256(BOB_TOKEN.encode()).hexdigest())


def test_no_tokens_at_all_refuses_everything() -> None:
    with pytest.raises(AuthError, match="no token is configured"):
        Directory.build(service_token=None).by_token(ALICE_TOKEN)


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "JSON object"),
    ("{not json", "not JSON"),
    (json.dumps({"short-secret": "alice"}), "shorter than 16"),
    (json.dumps({ALICE_TOKEN: ""}), "non-empty name"),
    (json.dumps({ALICE_TOKEN: 7}), "non-empty name"),
    (json.dumps({SERVICE_TOKEN: "alice"}), "service token"),
])
def test_a_bad_token_file_is_a_clear_error_that_names_no_token(text: str, message: str) -> None:
    # 503, not 4xx: the broker keeps the console's deliveries until the operator fixes it.
    with pytest.raises(TransientError, match=message) as e:
        Directory.build(service_token=SERVICE_TOKEN, tokens=text)
    for secret in (ALICE_TOKEN, SERVICE_TOKEN, "short-secret"):
        assert secret not in str(e.value)


def test_slack_ids_map_to_people_and_nobody_else() -> None:
    d = people(slack="U024BE7LH=alice@example.com, W0123ABCD = bob@example.com")
    assert d.by_slack("U024BE7LH") == Identity("alice@example.com", "slack")
    assert d.by_slack("W0123ABCD").name == "bob@example.com"
    with pytest.raises(PermanentError) as e:
        d.by_slack("U0MALLORY")
    assert e.value.status == 403
    for bad in ("alice@example.com", "u024=alice", "U024BE7LH"):
        with pytest.raises(TransientError, match="SLACK_USER_ID=person"):
            Directory.build(service_token=None, slack=bad)


def test_the_identity_header_is_read_only_when_named() -> None:
    # Headers reach the console with lowercase names (cloudevent_http.lower_headers).
    assert people().by_header({"x-auth-request-email": "alice@example.com"}) is None
    d = people(header="X-Auth-Request-Email")
    assert d.by_header({"x-auth-request-email": "alice@example.com"}) == Identity(
        "alice@example.com", "header")
    assert d.by_header({}) is None
    assert d.by_header({"x-auth-request-email": "alice@example.com\r\nx: y"}) is None
    sent_twice = lower_headers([("X-Auth-Request-Email", "alice@example.com"),
                                ("x-auth-request-email", "mallory@example.com")])
    assert d.by_header(sent_twice) is None
    with pytest.raises(TransientError, match="needs CONSOLE_API_TOKEN"):
        Directory.build(service_token=None, header="X-Auth-Request-Email")


def test_the_service_token_alone_cannot_sign_a_login() -> None:
    alone = Directory.build(service_token=SERVICE_TOKEN).session_material()
    assert alone is not None and alone != people().session_material()
    assert SERVICE_TOKEN not in (people().session_material() or "")
