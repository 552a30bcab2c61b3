"""What a real Knative + Kafka install needs from the chart (issue 13, deploy round 2): each fix
rendered and checked, and each unsafe value set refused at render time with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.helm_support import render, render_values


def _refused(values: dict[str, Any], message: str) -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmRenderError, match=message):
        render_values(values)


# ---- router starvation: bounded concurrency per pod, threads to spare for the probes ----------

def test_router_pods_take_a_bounded_number_of_requests_with_threads_to_spare() -> None:
    rendered = render("default")
    spec = rendered.function("router")["spec"]["template"]
    cc = spec["spec"]["containerConcurrency"]
    env = rendered.env("router")
    assert cc > 0
    assert int(env["THREADS"]) >= cc + 2
    assert env["ROUTER_MAX_VERIFICATIONS"] == str(cc)
    target = int(spec["metadata"]["annotations"]["autoscaling.knative.dev/target"])
    assert target <= cc and target > 0  # Knative scales out before the hard limit queues requests


def test_router_limit_follows_its_values() -> None:
    rendered = render_values({"router": {"containerConcurrency": 4, "threads": 6}})
    assert rendered.function("router")["spec"]["template"]["spec"]["containerConcurrency"] == 4
    assert rendered.env("router")["ROUTER_MAX_VERIFICATIONS"] == "4"


@pytest.mark.parametrize("values, message", [
    ({"router": {"containerConcurrency": 0}}, "router.containerConcurrency must be at least 1"),
    ({"router": {"containerConcurrency": 8, "threads": 9}},
     r"router.threads \(9\) must be at least router.containerConcurrency \+ 2"),
    ({"ingest": {"containerConcurrency": 8, "threads": 8}}, r"ingest.threads \(8\)"),
    ({"router": {"settings": {"max_verifications": 3}}}, "follows router.containerConcurrency"),
])
def test_a_pod_that_could_starve_its_health_checks_is_refused(values: dict[str, Any],
                                                              message: str) -> None:
    _refused(values, message)


# ---- upgrade safety --------------------------------------------------------------------------

def test_bootstrap_servers_is_required_because_the_chart_brings_no_kafka() -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmRenderError, match="bootstrapServers is required: the chart "
                       "does not install Kafka"):
        render_values({}, base=None)
    # With a Kafka config the cluster already has, nothing else is needed.
    rendered = render_values({"broker": {"kafka": {"existingConfigMap": {
        "name": "kafka-broker-config", "namespace": "knative-eventing"}}}}, base=None)
    (broker,) = rendered.of_kind("Broker")
    assert broker["spec"]["config"]["name"] == "kafka-broker-config"
    assert not [c for c in rendered.of_kind("ConfigMap") if "kafka" in c["metadata"]["name"]]


def _live_broker(cls: str, config: str = "incidents/rel-orchestrator-kafka-broker-config") -> dict:
    ns, name = config.split("/")
    return {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"name": "rel-orchestrator-incidents", "namespace": "incidents",
                         "annotations": {"eventing.knative.dev/broker.class": cls}},
            "spec": {"config": {"apiVersion": "v1", "kind": "ConfigMap", "name": name,
                                "namespace": ns}}}


def _upgrade_against(live: dict, values: dict[str, Any]) -> None:
    """Render a copy of the chart whose extra template hands `live` to the chart's own upgrade
    check, as `lookup` would during `helm upgrade` (offline, lookup finds nothing)."""
    import shutil
    import tempfile
    from pathlib import Path

    import helm_python as helm

    from tests.functional.helm_support import CHART, NAMESPACE, RELEASE, REQUIRED, merged

    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "orchestrator"
        shutil.copytree(CHART, chart)
        (chart / "values.schema.json").unlink()  # the test's extra value is not a chart value
        (chart / "templates" / "zz-live-broker.yaml").write_text(
            '{{- include "orchestrator.brokerUpgradeCheck" '
            '(dict "root" $ "existing" .Values.liveBroker) }}\n')
        with helm.Chart.load(str(chart)) as loaded:
            loaded.render(merged(merged(REQUIRED, values), {"liveBroker": live}),
                          name=RELEASE, namespace=NAMESPACE, is_upgrade=True)
    # The chart's broker.yaml hands the same check the live Broker from lookup.
    text = (CHART / "templates" / "broker.yaml").read_text()
    assert 'lookup "eventing.knative.dev/v1" "Broker"' in text
    assert 'include "orchestrator.brokerUpgradeCheck"' in text


def test_an_upgrade_that_keeps_the_broker_class_and_config_renders() -> None:
    _upgrade_against(_live_broker("Kafka"), {})


def test_an_upgrade_that_changes_the_broker_class_fails_early_and_says_what_to_do() -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmRenderError, match="exists with class Kafka and Knative refuses "
                       "to change a Broker's class; keep broker.class=Kafka"):
        _upgrade_against(_live_broker("Kafka"), {"broker": {"class": "KafkaNamespaced"}})


def test_an_upgrade_that_changes_the_broker_config_fails_early() -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmRenderError, match="refuses to change a Broker's spec.config"):
        _upgrade_against(_live_broker("Kafka"), {"broker": {"kafka": {"existingConfigMap": {
            "name": "kafka-broker-config", "namespace": "knative-eventing"}}}})


# ---- one source of truth for the routes ------------------------------------------------------

def _eventing_triggers() -> list[dict[str, Any]]:
    import yaml

    from tests.functional.helm_support import ROOT

    docs = yaml.safe_load_all((ROOT / "eventing" / "triggers.yaml").read_text())
    return [d for d in docs if d and d["kind"] == "Trigger"]


def test_the_chart_carries_eventing_triggers_byte_for_byte() -> None:
    from tests.functional.helm_support import CHART, ROOT

    copy = CHART / "files" / "eventing" / "triggers.yaml"
    assert copy.read_bytes() == (ROOT / "eventing" / "triggers.yaml").read_bytes(), \
        "run scripts/sync-chart-eventing"


def test_each_eventing_trigger_is_rendered_with_the_release_names() -> None:
    from tests.functional.helm_support import FULLNAME, NAMESPACE

    rendered = render("default")
    (broker,) = rendered.of_kind("Broker")
    triggers = _eventing_triggers()
    assert len(rendered.of_kind("Trigger")) == len(triggers)
    for source in triggers:
        name, spec = source["metadata"]["name"], source["spec"]
        out = rendered.one("Trigger", f"{FULLNAME}-{name}")
        assert out["metadata"]["namespace"] == NAMESPACE
        assert out["metadata"]["annotations"] == source["metadata"]["annotations"]
        assert out["spec"]["broker"] == broker["metadata"]["name"]
        assert out["spec"].get("filter") == spec.get("filter")
        assert out["spec"].get("filters") == spec.get("filters")
        ref = out["spec"]["subscriber"]["ref"]
        assert ref["name"] == f"{FULLNAME}-{spec['subscriber']['ref']['name']}"
        assert out["spec"]["subscriber"].get("uri") == spec["subscriber"].get("uri")
        assert out["spec"]["delivery"] == spec["delivery"]


def test_a_trigger_timeout_value_overrides_only_its_route() -> None:
    from tests.functional.helm_support import FULLNAME

    rendered = render_values({"triggers": {"timeouts": {"routerVerify": "PT200S"}}})
    assert rendered.one("Trigger", f"{FULLNAME}-router-verify")["spec"]["delivery"] == \
        {"timeout": "PT200S"}
    assert rendered.one("Trigger", f"{FULLNAME}-router-alerts")["spec"]["delivery"] == \
        {"timeout": "PT60S"}


# ---- helm install does not wait for hydration ------------------------------------------------

def test_hydration_runs_beside_the_release_and_helm_test_waits_for_it() -> None:
    from tests.functional.helm_support import FULLNAME, ROOT, chart_values

    rendered = render("default")
    (job,) = rendered.of_kind("Job")
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {}), \
        "a hook makes helm install wait for the stores and the image pull"
    assert "ttlSecondsAfterFinished" not in job["spec"], "its logs are the progress report"
    name = job["metadata"]["name"]
    assert name.startswith(f"{FULLNAME}-index-")
    # The same values keep the finished Job; anything its template is made of gives a new one
    # (a Job's pod template cannot be changed in place).
    assert render_values({}).of_kind("Job")[0]["metadata"]["name"] == name
    other = render_values({"image": {"tag": "9.9.9"}}).of_kind("Job")[0]["metadata"]["name"]
    assert other != name
    pod = rendered.one("Pod", f"{FULLNAME}-test-knowledge")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["JOB"] == name
    assert env["KB_RUNBOOKS_DIR"] == "/nonexistent"  # no fallback to raw runbooks
    assert any(f"{env['ALERT']}," in p.read_text() or f"{env['ALERT']}]" in p.read_text()
               for p in (ROOT / "runbooks").glob("*.md"))
    assert f"logs -f job/{name}" in rendered.notes
    timeout = chart_values()["helmTest"]["timeoutSeconds"]
    assert f"helm test rel -n incidents --timeout {2 * timeout + 60}s" in rendered.notes
