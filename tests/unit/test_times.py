"""The one RFC 3339 reader and the one ISO 8601 duration reader: what each accepts, what each
refuses, and that the eventing YAML refuses a bad duration naming where it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from orchestrator.local.triggers import EventingConfigError, load_documents
from orchestrator.times import iso_duration, rfc3339, rfc3339_or_none


@pytest.mark.parametrize(("text", "seconds"), [
    ("PT0.5S", 0.5), ("PT30S", 30), ("PT2M", 120), ("PT1M30.5S", 90.5), ("PT1H", 3600),
    ("P1DT2H", 93600), ("P1W", 604800), ("pt10s", 10),
])
def test_parse_iso8601_durations(text: str, seconds: float) -> None:
    assert iso_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30s", "P", "PT", "P1DT", "P1Y", "P2M", "-PT1S", "PT1.S"])
def test_reject_what_is_not_a_supported_duration(text: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        iso_duration(text)
    trigger = {"kind": "Trigger", "metadata": {"name": "t"},
               "spec": {"broker": "b", "subscriber": {"ref": {"name": "fn"}},
                        "delivery": {"backoffDelay": text}}}
    with pytest.raises(EventingConfigError, match="Trigger t.*ISO-8601"):
        load_documents([("test", {"kind": "Broker", "metadata": {"name": "b"}}), ("test", trigger)])


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-07T08:00:00Z", datetime(2026, 12, 7, 8, tzinfo=UTC)),
    ("2026-12-07t08:00:00z", datetime(2026, 12, 7, 8, tzinfo=UTC)),
    ("2026-12-07T08:00:00.123456789Z", datetime(2026, 12, 7, 8, 0, 0, 123456, tzinfo=UTC)),
    ("2026-12-07T09:30:00.5+01:30",
     datetime(2026, 12, 7, 9, 30, 0, 500000, tzinfo=timezone(timedelta(hours=1, minutes=30)))),
    (" 2026-12-07 08:00:00Z ", datetime(2026, 12, 7, 8, tzinfo=UTC)),
])
def test_rfc3339_times_are_read_whatever_their_fraction_and_zone(text: str,
                                                                 expected: datetime) -> None:
    assert rfc3339(text) == expected and rfc3339(text).tzinfo is not None


@pytest.mark.parametrize(("value", "message"), [
    ("2026-12-07T08:00:00", "no time zone"), ("yesterday", "not an RFC 3339 time"),
    ("2026-12-07", "not an RFC 3339 time"), ("20261207T080000Z", "not an RFC 3339 time"),
    ("2026-13-07T08:00:00Z", "month must be in 1..12"), (1733558400, "must be a string"),
])
def test_what_is_not_rfc3339_is_refused_saying_why(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rfc3339(value)
    assert rfc3339_or_none(value) is None


def test_a_naive_time_is_utc_only_when_the_caller_says_so() -> None:
    assert rfc3339("2026-12-07T08:00:00", naive_as_utc=True) == datetime(2026, 12, 7, 8,
                                                                         tzinfo=UTC)
