"""Loading eventing YAML for the local broker: durations, delivery merging, filters, validation."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from orchestrator.local.filters import FilterError, compile_trigger_filter
from orchestrator.local.triggers import (
    DEFAULT_TIMEOUT,
    Destination,
    EventingConfigError,
    load_documents,
    load_eventing,
)
from orchestrator.resources import eventing_dir

BROKER = """
kind: Broker
metadata: {name: b}
spec:
  delivery:
    retry: 5
    backoffPolicy: exponential
    backoffDelay: PT0.5S
    timeout: PT30S
    deadLetterSink: {ref: {name: console}, uri: /deadletter}
"""


def load(*triggers: str, broker: str = BROKER) -> Any:
    docs = [("broker.yaml", yaml.safe_load(broker))]
    docs += [("triggers.yaml", yaml.safe_load(t)) for t in triggers]
    return load_documents(docs)


def trigger(spec: str = "", meta: str = "") -> str:
    return (f"kind: Trigger\nmetadata: {{name: t{meta}}}\n"
            f"spec: {{broker: b, subscriber: {{ref: {{name: fn}}}}{spec}}}")


def test_packaged_eventing_loads_with_merged_delivery() -> None:
    config = load_eventing(eventing_dir())
    assert config.broker.name == "incidents" and config.broker.namespace == "default"
    names = [t.name for t in config.triggers]
    assert names == ["router-alerts", "router-verify", "agent-context", "executor-plans",
                     "executor-decisions", "console-audit"]
    router = config.trigger("router-alerts")
    assert router is not None
    # retry/backoff/DLS from the Broker, timeout from the Trigger.
    assert (router.delivery.retry, router.delivery.backoff_policy) == (5, "exponential")
    assert (router.delivery.backoff_delay, router.delivery.timeout) == (0.5, 60)
    assert router.delivery.dead_letter_sink == Destination("console", "/deadletter")
    assert [t.ordered for t in config.triggers] == [False, False, False, True, True, False]
    audit = config.trigger("console-audit")
    assert audit is not None and audit.subscriber == Destination("console", "/events")
    assert audit.subscriber.url({"console": "http://h:1/"}) == "http://h:1/events"
    routed = [t.name for t in config.matching({"type": "incident.action.failed"})]
    assert routed == ["router-verify", "console-audit"]
    assert config.destination_names() == {"router", "agent", "executor", "console"}


def test_trigger_delivery_wins_field_by_field() -> None:
    config = load(trigger(", delivery: {retry: 1, backoffPolicy: linear}"))
    delivery = config.triggers[0].delivery
    assert (delivery.retry, delivery.backoff_policy, delivery.backoff_delay) == (1, "linear", 0.5)
    assert delivery.timeout == 30 and delivery.dead_letter_sink is not None
    assert [delivery.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 1.5]


def test_no_retry_means_no_retries_and_the_kafka_default_timeout() -> None:
    config = load(trigger(), broker="kind: Broker\nmetadata: {name: b}")
    delivery = config.triggers[0].delivery
    assert (delivery.retry, delivery.timeout, delivery.dead_letter_sink) == (0, DEFAULT_TIMEOUT,
                                                                             None)
    assert [delivery.backoff(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]


@pytest.mark.parametrize(("spec", "meta", "message"), [
    (", delivery: {retry: -1}", "", "spec.delivery.retry must be at least 0"),
    (", delivery: {retry: '3'}", "", "spec.delivery.retry must be an integer, got string"),
    (", delivery: {retry: true}", "", "spec.delivery.retry must be an integer, got boolean"),
    (", delivery: {backoffPolicy: random}", "", "'linear' or 'exponential', got 'random'"),
    (", delivery: {backoffDelay: 5}", "", "backoffDelay must be an ISO-8601 duration"),
    (", delivery: {timeout: PT0S}", "", "spec.delivery.timeout must be greater than 0"),
    (", delivery: [1]", "", "spec.delivery must be an object, got list"),
    (", delivery: {deadLetterSink: {ref: {}}}", "", "deadLetterSink.ref.name is required"),
    (", delivery: {format: json}", "", "only binary"),
    (", filters: [{cesql: \"type = 'a'\"}]", "", "not supported by the local broker"),
    ("", ", annotations: {kafka.eventing.knative.dev/delivery.order: sorted}", "Allowed values"),
])
def test_invalid_triggers_are_refused_with_their_name(spec: str, meta: str, message: str) -> None:
    with pytest.raises(EventingConfigError, match=message) as err:
        load(trigger(spec, meta))
    assert "Trigger t" in str(err.value)


def test_structural_errors() -> None:
    with pytest.raises(EventingConfigError, match="exactly one Broker"):
        load_documents([])
    with pytest.raises(EventingConfigError, match="duplicate Trigger names: t"):
        load(trigger(), trigger())
    with pytest.raises(EventingConfigError, match="only Broker is 'b'"):
        load("kind: Trigger\nmetadata: {name: x}\nspec: {broker: other, subscriber: {ref: "
             "{name: f}}}")
    with pytest.raises(EventingConfigError, match="ref.name or an absolute uri"):
        load("kind: Trigger\nmetadata: {name: x}\nspec: {broker: b, subscriber: {uri: /x}}")
    config = load("kind: Trigger\nmetadata: {name: x}\nspec: {broker: b, subscriber: "
                  "{uri: 'http://elsewhere:9/in'}}")
    assert config.triggers[0].subscriber.url({}) == "http://elsewhere:9/in"


def matches(filters: Any, attrs: dict[str, str], legacy: Any = None) -> bool:
    return compile_trigger_filter(legacy, filters, where="t").matches(attrs)


EVENT = {"type": "com.github.push", "source": "/repo/x", "subject": "main"}


@pytest.mark.parametrize(("filters", "expected"), [
    ([{"exact": {"type": "com.github.push"}}], True),
    ([{"exact": {"type": "com.github"}}], False),
    ([{"exact": {"missing": "x"}}], False),
    ([{"prefix": {"type": "com.github."}}], True),
    ([{"prefix": {"type": "org."}}], False),
    ([{"suffix": {"type": ".push"}}], True),
    ([{"suffix": {"type": ".pull"}}], False),
    ([{"not": {"exact": {"type": "com.github.push"}}}], False),
    ([{"not": {"exact": {"missing": "x"}}}], True),
    ([{"any": [{"exact": {"type": "a"}}, {"prefix": {"source": "/repo/"}}]}], True),
    ([{"any": [{"exact": {"type": "a"}}, {"exact": {"type": "b"}}]}], False),
    ([{"all": [{"exact": {"type": "com.github.push"}}, {"exact": {"subject": "main"}}]}], True),
    ([{"all": [{"exact": {"type": "com.github.push"}}, {"exact": {"subject": "dev"}}]}], False),
    # The list is ANDed.
    ([{"prefix": {"type": "com."}}, {"suffix": {"source": "/y"}}], False),
])
def test_filters_dialects(filters: Any, expected: bool) -> None:
    assert matches(filters, EVENT) is expected


def test_legacy_attributes_and_precedence() -> None:
    assert matches(None, EVENT, {"attributes": {"type": "com.github.push", "subject": "main"}})
    assert not matches(None, EVENT, {"attributes": {"type": "com.github.push", "subject": "x"}})
    # Knative's TriggerAnyFilter: an empty value accepts any value, even a missing attribute.
    assert matches(None, EVENT, {"attributes": {"type": "", "other": ""}})
    # `filters` wins over `filter` when both are set.
    assert matches([{"prefix": {"type": "com."}}], EVENT, {"attributes": {"type": "nope"}})
    assert matches(None, EVENT)  # no filter at all: everything


@pytest.mark.parametrize(("filters", "message"), [
    ([{"exact": {"type": "a"}, "prefix": {"type": "b"}}], "exactly one filter dialect"),
    ([{}], "exactly one dialect"),
    ([{"exact": {"type": "a", "source": "b"}}], "exactly one attribute"),
    ([{"exact": {"type": ""}}], "must not be empty"),
    ([{"prefix": {"Type": "a"}}], "not a CloudEvents attribute name"),
    ([{"regex": {"type": "a"}}], "unknown filter dialect"),
    ([{"any": {"exact": {"type": "a"}}}], "must be a list"),
    ([{"all": []}], "exactly one filter dialect"),
    ([{"cesql": "type = 'a'"}], "not supported by the local broker"),
    ({"exact": {"type": "a"}}, "must be a list"),
])
def test_invalid_filters(filters: Any, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        compile_trigger_filter(None, filters, where="t")


def test_delivery_fields_the_local_broker_does_not_run_are_warned_about(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="orchestrator.local.triggers"):
        config = load(trigger(", delivery: {retry: 2, retryAfterMax: PT5S}"))
    assert config.triggers[0].delivery.retry == 2
    assert "Trigger t: spec.delivery.retryAfterMax is ignored by the local broker" in caplog.text
    with pytest.raises(EventingConfigError, match="Trigger t: spec.subscriber must be an object"):
        load("kind: Trigger\nmetadata: {name: t}\nspec: {broker: b, subscriber: [fn]}")
