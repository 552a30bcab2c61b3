"""No secret from the canary set survives into the enriched event: not in logs, env, annotations,
Event messages, container messages or the alert's own annotations."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.functional.router_support import alert, enrich, fake_api, with_nodes
from tests.unit.secret_canaries_support import CANARIES


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    yield from fake_api()


def test_no_canary_survives_anywhere(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment(ns="shop", name="leaky")
    deploy, pod = sc["deployment"], sc["pod"]
    texts = [text for _, text, _ in CANARIES]
    # Annotations on the pod and the Deployment, one canary each.
    pod["metadata"]["annotations"] = {f"example.com/note-{n}": t for n, t in enumerate(texts)}
    deploy["metadata"]["annotations"].update(
        {f"example.com/cfg-{n}": t for n, t in enumerate(texts)})
    # Literal env values (never carried at all) and a termination message.
    ctr = pod["spec"]["containers"][0]
    ctr["env"] = [{"name": f"VAR_{n}", "value": t} for n, t in enumerate(texts)]
    status = pod["status"]["containerStatuses"][0]
    status["lastState"]["terminated"]["message"] = "\n".join(texts[:10])
    sc.load(api)
    with_nodes(api)
    name = pod["metadata"]["name"]
    api.set_logs("shop", name, "app", "starting\n" + "\n".join(texts) + "\ncrashed\n",
                 previous=True)
    for n, t in enumerate(texts):
        api.add(ko.event(pod, f"Leak{n}", f"probe failed: {t}", last_age=n + 1))
    a = alert({"namespace": "shop", "pod": name},
              annotations={"description": f"see {texts[17]}", "runbook_url": "https://rb/x"})

    data = enrich(api, a, max_event_bytes=256 * 1024, max_events=100, log_tail_lines=200)
    body = data.model_dump_json()
    leaked = [cname for cname, _, secret in CANARIES if secret in body]
    assert leaked == []
    ctx = data.context
    # Everything was actually carried (redacted), not silently dropped.
    assert len(ctx.events) >= len(CANARIES) and ctx.cut == []
    assert ctx.logs[0].lines[0] == "starting" and ctx.logs[0].lines[-1] == "crashed"
    assert {e.name for e in ctx.pods[0].containers[0].env} >= {"VAR_0", "VAR_1"}
    assert data.alert.annotations["runbook_url"] == "https://rb/x"
    # Where redactions happened is recorded, by kind and place only.
    places = " | ".join(ctx.redactions)
    for where in (f"logs of shop/{name}/app (previous)", f"Pod shop/{name} annotations[",
                  "Deployment shop/leaky annotations[", f"events of Pod/{name}",
                  "alert annotations[description]", "last state"):
        assert where in places, where
    assert "jwt" in places and "private-key" in places and "url-password" in places


def test_secrets_in_a_failed_jobs_log_and_conditions_are_redacted(api: FakeKubeAPI) -> None:
    sc = ko.failed_job()
    job = copy.deepcopy(sc["job"])
    secret = "postgres://report:CanaryJobPw1@db:5432/sales"
    for c in sc["job"]["status"]["conditions"]:
        c["message"] = f"Job failed: {secret}"
    sc.load(api)
    with_nodes(api)
    api.set_logs("batch", sc["pod"]["metadata"]["name"], "app", f"connecting {secret}\nboom\n")
    data = enrich(api, alert({"namespace": "batch", "job_name": job["metadata"]["name"]}))
    assert "CanaryJobPw1" not in data.model_dump_json()
    assert any("condition Failed" in r for r in data.context.redactions)
