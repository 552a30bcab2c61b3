"""The chart's eventing: the same routes as eventing/ (read by the local broker's own loader),
every event type consumed, no reply loops, the bindings, and who may post. (The sweep is a
CronJob, not an event source: test_helm_chart_sweep.py.)"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from orchestrator import events
from orchestrator.local.triggers import EventingConfig, load_documents, load_eventing
from tests.functional.helm_support import FULLNAME, NAMESPACE, ROOT, VALUE_SETS, render

ALL_TYPES = sorted({*events.MODELS, events.ALERT_MANUAL})
# What each function answers a delivery with (DESIGN.md, event contract). The console answers
# 202 and posts approvals through its SinkBinding instead: those are not replies.
REPLIES = {
    "router": {events.CONTEXT_ENRICHED, events.RESOLVED, events.ESCALATED},
    "agent": {events.PLAN_PROPOSED, events.ESCALATED},
    "executor": {events.ACTION_COMPLETED, events.ACTION_FAILED, events.APPROVAL_REQUESTED,
                 events.ESCALATED},
    "console": set(),
}
POSTED = {"ingest": {events.ALERT_RECEIVED},
          "console": {events.PLAN_APPROVED, events.PLAN_REJECTED}}
CONSUMER = {
    events.ALERT_RECEIVED: "router",
    events.CONTEXT_ENRICHED: "agent",
    events.PLAN_PROPOSED: "executor",
    events.APPROVAL_REQUESTED: "console",
    events.PLAN_APPROVED: "executor",
    events.PLAN_REJECTED: "executor",
    events.ACTION_COMPLETED: "router",
    events.ACTION_FAILED: "router",
    events.RESOLVED: "console",
    events.ESCALATED: "console",
}


def _unprefixed(name: str) -> str:
    return name.removeprefix(f"{FULLNAME}-")


def chart_eventing(value_set: str = "default") -> EventingConfig:
    """The chart's Broker and Triggers, named as eventing/ names them, through the same loader."""
    docs: list[tuple[str, Any]] = []
    broker_name = eventing_broker_name()
    for obj in render(value_set).objects:
        if obj["kind"] not in ("Broker", "Trigger"):
            continue
        doc = copy.deepcopy(obj)
        meta, spec = doc["metadata"], doc["spec"]
        if doc["kind"] == "Broker":
            meta["name"] = broker_name
            sink = spec["delivery"]["deadLetterSink"]["ref"]
            sink["name"] = _unprefixed(sink["name"])
        else:
            meta["name"] = _unprefixed(meta["name"])
            spec["broker"] = broker_name
            spec["subscriber"]["ref"]["name"] = _unprefixed(spec["subscriber"]["ref"]["name"])
        docs.append(("chart", doc))
    return load_documents(docs, namespace=NAMESPACE)


def eventing_broker_name() -> str:
    return load_eventing(ROOT / "eventing").broker.name


def _route(config: EventingConfig, name: str) -> dict[str, Any]:
    trigger = config.trigger(name)
    assert trigger is not None, name
    return {
        "subscriber": trigger.subscriber,
        "ordered": trigger.ordered,
        "delivery": trigger.delivery,
        "matches": [t for t in ALL_TYPES + ["com.example.foreign", "incident"]
                    if trigger.filter.matches({"type": t})],
    }


def test_chart_triggers_describe_the_same_routes_as_eventing_dir() -> None:
    ours, theirs = chart_eventing(), load_eventing(ROOT / "eventing")
    assert sorted(t.name for t in ours.triggers) == sorted(t.name for t in theirs.triggers)
    for trigger in theirs.triggers:
        assert _route(ours, trigger.name) == _route(theirs, trigger.name), trigger.name
    assert ours.broker.delivery == theirs.broker.delivery


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_event_type_produced_has_a_trigger_and_its_consumer(value_set: str) -> None:
    config = chart_eventing(value_set)
    produced = set().union(*REPLIES.values(), *POSTED.values())
    assert produced == set(events.MODELS), "a type nobody produces, or one outside the contract"
    for event_type in produced:
        subscribers = {t.subscriber.name for t in config.matching({"type": event_type})}
        assert CONSUMER[event_type] in subscribers, event_type
        assert "console" in subscribers, f"the audit log misses {event_type}"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_no_trigger_matches_a_type_its_own_subscriber_replies_with(value_set: str) -> None:
    for trigger in chart_eventing(value_set).triggers:
        loops = {t for t in REPLIES[trigger.subscriber.name]
                 if trigger.filter.matches({"type": t})}
        assert not loops, f"{trigger.name} would feed {trigger.subscriber.name} its own {loops}"


def test_executor_triggers_are_ordered_and_others_are_not() -> None:
    for trigger in chart_eventing().triggers:
        assert trigger.ordered == (trigger.subscriber.name == "executor"), trigger.name


def test_trigger_timeouts_fit_inside_their_subscribers_request_timeout() -> None:
    rendered = render("default")
    for trigger in chart_eventing().triggers:
        ksvc = rendered.function(trigger.subscriber.name)
        assert trigger.delivery.timeout < ksvc["spec"]["template"]["spec"]["timeoutSeconds"]
    timeouts = {t.name: t.delivery.timeout for t in chart_eventing().triggers}
    assert timeouts["agent-context"] > timeouts["executor-plans"], "the agent waits on an LLM"
    assert timeouts["router-verify"] > timeouts["router-alerts"], "verification watches"


def test_dead_letters_go_to_the_console() -> None:
    sink = chart_eventing().broker.delivery.dead_letter_sink
    assert sink is not None and (sink.name, sink.uri) == ("console", "/deadletter")


def test_ingest_and_console_reach_the_broker_through_sinkbindings() -> None:
    rendered = render("default")
    (broker,) = rendered.of_kind("Broker")
    bound = {}
    for binding in rendered.of_kind("SinkBinding"):
        assert binding["spec"]["sink"]["ref"]["kind"] == "Broker"
        assert binding["spec"]["sink"]["ref"]["name"] == broker["metadata"]["name"]
        bound[binding["spec"]["subject"]["name"]] = binding
    assert set(bound) == {f"{FULLNAME}-{fn}" for fn in POSTED}


def test_kafka_broker_config_comes_from_values() -> None:
    rendered = render("default")
    (broker,) = rendered.of_kind("Broker")
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "Kafka"
    config = rendered.one("ConfigMap", broker["spec"]["config"]["name"])["data"]
    assert config["bootstrap.servers"] == "my-cluster-kafka-bootstrap.kafka:9092"
    assert config["default.topic.replication.factor"] == "3"
    assert "needs at least 3 brokers" in " ".join(rendered.notes.split())
    own = render("enforce-everywhere")
    (broker,) = own.of_kind("Broker")
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == \
        "KafkaNamespaced"
    assert broker["spec"]["config"] == {"apiVersion": "v1", "kind": "ConfigMap",
                                        "name": "kafka-broker-config",
                                        "namespace": "knative-eventing"}
    assert not [c for c in own.of_kind("ConfigMap") if "kafka" in c["metadata"]["name"]]


def _broker_ingress_policies(value_set: str) -> list[dict[str, Any]]:
    return [p for p in render(value_set).of_kind("NetworkPolicy")
            if p["spec"]["podSelector"].get("matchLabels") == {"app": "kafka-broker-receiver"}]


def test_no_policy_on_the_shared_broker_receiver_unless_asked() -> None:
    """The Kafka receiver in knative-eventing serves every Broker of the cluster."""
    assert _broker_ingress_policies("default") == []


def test_only_the_functions_holding_a_sinkbinding_may_post_to_the_broker_ingress() -> None:
    """Opted in (enforce-everywhere, with its own KafkaNamespaced data plane)."""
    value_set = "enforce-everywhere"
    (policy,) = _broker_ingress_policies(value_set)
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    ours = [p for p in rule["from"] if "podSelector" in p]
    (peer,) = ours
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": NAMESPACE}
    selector = peer["podSelector"]["matchLabels"]
    rendered = render(value_set)
    allowed = {fn for fn in REPLIES | POSTED
               if selector.items() <= rendered.function(fn)["spec"]["template"]["metadata"][
                   "labels"].items()}
    assert allowed == set(POSTED)
    others = [p for p in rule["from"] if "podSelector" not in p]
    extra = VALUE_SETS[value_set]["networkPolicy"]["brokerIngress"]["allowFrom"]
    assert others == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "knative-eventing"}}}, *extra]


def test_event_policy_only_when_oidc_is_enabled_and_only_for_the_bindings() -> None:
    assert render("default").of_kind("EventPolicy") == []
    (policy,) = render("enforce-everywhere").of_kind("EventPolicy")
    (to,) = policy["spec"]["to"]
    assert to["ref"]["kind"] == "Broker"
    refs = {f["ref"]["name"] for f in policy["spec"]["from"] if "ref" in f}
    assert refs == {b["metadata"]["name"] for b in render("enforce-everywhere").of_kind(
        "SinkBinding")}
    assert {"sub": "system:serviceaccount:ops:pager"} in policy["spec"]["from"]


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_the_broker_reaches_only_the_cluster_local_console(value_set: str) -> None:
    """Deliveries and dead letters carry no credential: they go to the cluster-local console.
    A public console, when asked for, is a second Service serving people and Slack only."""
    rendered = render(value_set)
    internal = rendered.function("console")
    assert internal["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
    assert "CONSOLE_SURFACE" not in rendered.env("console")
    public = [s for s in rendered.of_kind("Service")
              if s["metadata"]["name"] == f"{FULLNAME}-console-web"]
    wanted = not VALUE_SETS[value_set].get("console", {}).get("clusterLocal", True)
    assert len(public) == int(wanted)
    if public:
        assert "networking.knative.dev/visibility" not in public[0]["metadata"]["labels"]
        assert rendered.env("console-web")["CONSOLE_SURFACE"] == "public"
    bound = {b["spec"]["subject"]["name"] for b in rendered.of_kind("SinkBinding")}
    assert {f"{FULLNAME}-console"} | ({f"{FULLNAME}-console-web"} if wanted else set()) <= bound
    for obj in rendered.of_kind("Trigger") + rendered.of_kind("Broker"):
        assert "console-web" not in yaml.safe_dump(obj), obj["metadata"]["name"]
