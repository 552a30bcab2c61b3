"""The chart read as Kafka and Knative read it: checks written from their documented behaviour,
for defects an offline render shows but a schema does not.

- Kafka parses topic settings as integers (`retention.ms`, `partitions`, `replication.factor`);
  Helm reads YAML numbers as float64 and prints large ones in exponent form.
- NetworkPolicies add up per pod: a policy in a shared namespace selecting a shared pod cuts off
  everyone not listed, so the chart keeps its policies in the release namespace by default.
- Knative's queue-proxy probes a starting pod aggressively only while the readiness probe's
  `periodSeconds` is unset or 0.
"""

from __future__ import annotations

import re

import pytest

from tests.functional.helm_support import (
    FUNCTIONS,
    NAMESPACE,
    VALUE_SETS,
    render,
    render_values,
)

KAFKA_INTEGER = re.compile(r"^[0-9]+$")


def _kafka_config(values: dict) -> dict[str, str]:
    rendered = render_values(values)
    (broker,) = rendered.of_kind("Broker")
    return rendered.one("ConfigMap", broker["spec"]["config"]["name"])["data"]


@pytest.mark.parametrize("kafka", [
    {},
    {"retentionMs": 604800000, "partitions": 12, "replicationFactor": 1},
    {"retentionMs": 2592000000, "partitions": 100},      # 30 days, past 2^31
    {"retentionMs": -1},                                 # Kafka's "keep forever"
    {"retentionMs": 86400000.0},                         # a float written by a values generator
], ids=["default", "week", "month", "forever", "float"])
def test_every_numeric_kafka_topic_setting_renders_as_an_integer(kafka: dict) -> None:
    config = _kafka_config({"broker": {"kafka": kafka}})
    topic = {k: v for k, v in config.items() if k.startswith("default.topic.")}
    assert set(topic) >= {"default.topic.partitions", "default.topic.replication.factor",
                          "default.topic.config.retention.ms"}
    for key, value in topic.items():
        wanted = kafka.get({"default.topic.partitions": "partitions",
                            "default.topic.replication.factor": "replicationFactor",
                            "default.topic.config.retention.ms": "retentionMs"}[key])
        if key.endswith("retention.ms") and wanted == -1:
            assert value == "-1"
            continue
        assert KAFKA_INTEGER.match(value), f"{key}: {value!r} is not an integer Kafka accepts"
        if wanted is not None:
            assert int(value) == int(wanted)
    assert config["default.topic.config.retention.ms"] == str(
        int(kafka.get("retentionMs", 604800000)))


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_network_policies_stay_in_the_release_namespace_unless_opted_in(value_set: str) -> None:
    opted_in = VALUE_SETS[value_set].get("networkPolicy", {}).get("brokerIngress", {}).get(
        "enabled", False)
    for policy in render(value_set).of_kind("NetworkPolicy"):
        if policy["metadata"]["namespace"] != NAMESPACE:
            assert opted_in, policy["metadata"]["name"]


def test_a_shared_data_plane_policy_is_opt_in_and_noted() -> None:
    rendered = render_values({"networkPolicy": {"brokerIngress": {"enabled": True}}})
    shared = [p for p in rendered.of_kind("NetworkPolicy")
              if p["metadata"]["namespace"] == "knative-eventing"]
    assert len(shared) == 1
    assert "cut off" not in render("default").notes
    assert "brokerIngress.allowFrom" in rendered.notes


def _function_policy(rendered) -> dict:  # type: ignore[no-untyped-def]
    (policy,) = [p for p in rendered.of_kind("NetworkPolicy")
                 if p["metadata"]["name"].endswith("-functions")]
    return policy


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_function_pods_admit_only_knatives_data_plane_and_the_release(value_set: str) -> None:
    rendered = render(value_set)
    policy = _function_policy(rendered)
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    selector = {e["key"]: set(e["values"]) for e in policy["spec"]["podSelector"][
        "matchExpressions"]}
    for svc in rendered.of_kind("Service"):
        if svc["apiVersion"] != "serving.knative.dev/v1":
            continue
        labels = svc["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) in v for k, v in selector.items()), svc["metadata"]["name"]
    for other in ("minio", "qdrant"):
        assert other not in selector["app.kubernetes.io/component"]
    (rule,) = policy["spec"]["ingress"]
    namespaces = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                  for p in rule["from"] if set(p) == {"namespaceSelector"}}
    assert namespaces == {"knative-serving", "knative-eventing", "kourier-system"}
    (own,) = [p for p in rule["from"] if set(p) == {"podSelector"}]
    assert own["podSelector"]["matchLabels"] == {"app.kubernetes.io/instance": "rel"}
    assert "ports" not in rule  # traffic arrives on queue-proxy's ports, not the container's


def test_function_policy_follows_the_networking_layer_and_extra_peers() -> None:
    prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}}
    rendered = render_values({"networkPolicy": {
        "knative": {"ingressNamespaces": ["istio-system"]}, "functionsAllowFrom": [prometheus]}})
    (rule,) = _function_policy(rendered)["spec"]["ingress"]
    assert prometheus in rule["from"]
    names = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
             for p in rule["from"] if "namespaceSelector" in p}
    assert "istio-system" in names and "kourier-system" not in names
    assert render_values({"networkPolicy": {"enabled": False}}).of_kind("NetworkPolicy") == []


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_knative_services_keep_aggressive_readiness_probing(value_set: str) -> None:
    rendered = render(value_set)
    services = [s for s in rendered.of_kind("Service")
                if s["apiVersion"] == "serving.knative.dev/v1"]
    assert {s["metadata"]["name"].removeprefix("rel-orchestrator-") for s in services} >= set(
        FUNCTIONS)
    for svc in services:
        for container in svc["spec"]["template"]["spec"]["containers"]:
            probe = container["readinessProbe"]
            assert probe.get("periodSeconds", 0) == 0, svc["metadata"]["name"]
            assert probe["httpGet"]["path"] == "/healthz"
