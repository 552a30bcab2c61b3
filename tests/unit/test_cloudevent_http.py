"""CloudEvents over HTTP at the unit level: the binding's header encoding and its edge cases,
what the strict and the lenient reader each accept, and the one "is this a CloudEvent?" check."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.cloudevent_http import (
    WireError,
    binary_headers,
    header_value,
    header_value_decoded,
    is_event,
    lower_headers,
    read,
)
from orchestrator.envelope import Outgoing, decode, to_binary
from orchestrator.errors import PermanentError
from orchestrator.events import RESOLVED, Resolved
from orchestrator.local.keyring import ensure_keyring
from orchestrator.provenance import load_keyring, signer_from_pem
from tests.incidents import make_alert

BASE = {"ce-specversion": "1.0", "ce-type": "t", "ce-id": "1", "ce-source": "/s"}


@pytest.mark.parametrize(("value", "encoded"), [
    ("plain-ASCII_value/1:2", "plain-ASCII_value/1:2"),
    ("two words", "two%20words"),
    ("100%", "100%25"),
    ("a%20b", "a%2520b"),  # a literal percent is never mistaken for an encoding
    ('say "hi"', "say%20%22hi%22"),
    ("café", "caf%C3%A9"),
    ("Euro \u20ac \U0001F600", "Euro%20%E2%82%AC%20%F0%9F%98%80"),  # the binding's own example
    ("line\r\nx-forged: 1", "line%0D%0Ax-forged:%201"),
    ("\x7f", "%7F"),
])
def test_header_values_are_percent_encoded_as_the_binding_says(value: str, encoded: str) -> None:
    assert header_value(value) == encoded
    assert header_value_decoded(encoded) == value
    assert all(0x21 <= ord(c) <= 0x7E for c in encoded)


def test_decoding_accepts_what_senders_may_send_and_refuses_what_is_not_utf8() -> None:
    assert header_value_decoded("caf%c3%a9") == "café"  # lower-case hex
    assert header_value_decoded("%61bc") == "abc"  # needlessly encoded
    assert header_value_decoded('"quoted \\"value\\""') == 'quoted "value"'  # older senders
    assert header_value_decoded("50%off") == "50%off"  # not an encoding: kept
    with pytest.raises(WireError, match="UTF-8"):
        header_value_decoded("%C0%A0")  # an overlong encoding of a space
    assert header_value_decoded("%C0%A0", lenient=True) == "%C0%A0"


def test_binary_headers_round_trip_through_the_reader() -> None:
    attrs = {"specversion": "1.0", "type": "t", "id": "1", "source": "/s", "subject": "a b%c é",
             "datacontenttype": "application/json"}
    headers = binary_headers(attrs)
    assert headers["content-type"] == "application/json"
    assert headers["ce-subject"] == "a%20b%25c%20%C3%A9"
    message = read(headers, b'{"x": 1}')
    assert message.attributes == attrs and message.data == b'{"x": 1}' and message.binary


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    ensure_keyring(tmp_path / "keys")
    return tmp_path / "keys"


def test_a_signed_event_verifies_whatever_its_attributes_hold(keys: Path) -> None:
    # The producer signs attribute values, the wire carries them percent-encoded, and the
    # consumer verifies what it decoded: the two agree only if decoding undoes the encoding.
    signer = signer_from_pem("router", (keys / "router.key").read_text())
    key = "prod eu-%-\u00e9tage"
    out = signer.sealed(Outgoing(
        type=RESOLVED, id="r-1", function="router", incident_key=key,
        data=Resolved(incident_key=key, how="alert-resolved", alert=make_alert({}))))
    headers, body = to_binary(out)
    assert " " not in headers["ce-subject"] and "%25" in headers["ce-incidentkey"]
    event = decode(headers, body)
    assert event.subject == key and event.incident_key == key
    ring = load_keyring(keys / "public", max_age=timedelta(minutes=15),
                        skew=timedelta(minutes=1))
    assert ring.check(event, now=datetime.now(UTC)) == "router"


def test_strict_reading_is_the_specification() -> None:
    with pytest.raises(WireError, match="specversion must be 1.0"):
        read({**BASE, "ce-specversion": "0.3"}, b"")
    with pytest.raises(WireError, match="missing required attribute.*source"):
        read({k: v for k, v in BASE.items() if k != "ce-source"}, b"")
    doc = {"specversion": "1.0", "type": "t", "id": "1", "source": "/s", "Bad": "x"}
    structured = {"content-type": "application/cloudevents+json"}
    with pytest.raises(WireError, match="'Bad' is not lowercase"):
        read(structured, json.dumps(doc).encode())
    with pytest.raises(WireError, match="must be a string, integer or boolean"):
        read(structured, json.dumps({**doc, "Bad": None, "ext": [1]}).encode())
    with pytest.raises(WireError, match="batched"):
        read({"content-type": "application/cloudevents-batch+json"}, b"[]")
    with pytest.raises(WireError, match="not a CloudEvent"):
        read({"content-type": "application/json"}, b'{"specversion": "1.0"}')


def test_lenient_reading_keeps_what_a_strict_reader_refuses() -> None:
    doc = {"specversion": "0.3", "type": "t", "id": "1", "source": "/s", "Odd": ["x"],
           "flag": True, "data": {"é": 1}}
    message = read({"content-type": "application/cloudevents+json"}, json.dumps(doc).encode(),
                   lenient=True)
    assert message.attributes == {"specversion": "0.3", "type": "t", "id": "1", "source": "/s",
                                  "Odd": "['x']", "flag": "true",
                                  "datacontenttype": "application/json"}
    assert message.data == '{"é":1}'.encode() and not message.binary
    with pytest.raises(WireError, match="missing required attribute.*id"):
        read({"content-type": "application/cloudevents+json"}, b'{"type": "t", "source": "/s"}',
             lenient=True)


def test_deep_binary_data_is_refused_only_by_readers_that_parse_it() -> None:
    deep = b"[" * 500 + b"]" * 500
    with pytest.raises(WireError, match="deeper than 400"):
        read({**BASE, "content-type": "application/json"}, deep)
    assert read({**BASE, "content-type": "application/json"}, deep, lenient=True).data == deep
    assert read({**BASE, "content-type": "application/octet-stream"}, deep).data == deep


def test_one_check_says_whether_a_message_claims_to_be_a_cloudevent() -> None:
    assert is_event({"ce-specversion": "1.0"})
    assert is_event({"content-type": "application/cloudevents+json; charset=utf-8"})
    assert is_event({"content-type": "Application/CloudEvents-Batch+JSON"})
    assert not is_event({"content-type": "application/json"})
    assert not is_event({"ce-type": "t"})
    assert not is_event({})


def test_header_names_are_lowercased_once_and_a_repeated_name_keeps_both_values() -> None:
    assert lower_headers({"Ce-Id": "1", "Content-Type": "a"}) == {"ce-id": "1",
                                                                 "content-type": "a"}
    assert lower_headers([("X-User", "alice"), ("x-user", "bob")]) == {"x-user": "alice, bob"}


def test_bad_event_data_is_a_400_naming_the_field() -> None:
    headers = {**BASE, "ce-type": RESOLVED, "content-type": "application/json"}
    event = decode(headers, json.dumps({"how": "alert-resolved", "bogus": 1}).encode())
    with pytest.raises(PermanentError) as err:
        event.parse(Resolved)
    assert err.value.status == 400
    assert "invalid data for 'incident.resolved'" in str(err.value)
    assert "data.incident_key is required" in str(err.value)
    assert "unexpected field 'data.bogus'" in str(err.value)
