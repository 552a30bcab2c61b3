"""The enriched event's byte cap: status first, then events, then logs, and what was cut is said."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.functional.router_support import alert, enrich, fake_api, pod_alert, with_nodes


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    yield from fake_api()


def _noisy(api: FakeKubeAPI) -> ko.Scenario:
    """An OOMKilled pod with long logs (both instances) and many distinct events."""
    sc = ko.oomkilled_pod().load(api)
    with_nodes(api)
    pod = sc["pod"]
    name = pod["metadata"]["name"]
    for previous in (True, False):
        lines = [f"{n:04d} {'previous' if previous else 'current'} " + "x" * 300
                 for n in range(200)]
        api.set_logs("shop", name, "app", "\n".join(lines) + "\n", previous=previous)
    for n in range(60):
        api.add(ko.event(pod, f"Reason{n}", f"distinct message number {n} " + "y" * 150,
                         last_age=n + 1))
    return sc


def test_a_large_context_is_cut_to_the_cap_in_priority_order(api: FakeKubeAPI) -> None:
    sc = _noisy(api)
    data = enrich(api, pod_alert(sc))
    ctx = data.context
    assert len(data.model_dump_json().encode()) <= 32 * 1024
    # Status is whole.
    assert ctx.pods[0].containers[0].last_reason == "OOMKilled"
    assert [o.kind for o in ctx.owners] == ["ReplicaSet", "Deployment"] and ctx.nodes
    # Events came before logs: the newest 30 kept (the setting), all of them fit.
    assert len(ctx.events) == 30 and ctx.events[0].reason == "Reason0"
    # The previous (killed) instance's log is kept before the current one, newest lines last.
    assert ctx.logs[0].previous and ctx.logs[0].truncated
    assert ctx.logs[0].lines[-1].startswith("0199 previous")
    assert all(len(line) <= 401 for t in ctx.logs for line in t.lines)
    assert any(c.startswith("logs of ") and "(byte cap)" in c for c in ctx.cut)
    assert any(c.startswith("events: ") for c in ctx.cut)  # folded ones beyond max_events


def test_a_tight_cap_drops_logs_then_events_but_keeps_status(api: FakeKubeAPI) -> None:
    sc = _noisy(api)
    data = enrich(api, pod_alert(sc), max_event_bytes=8192)
    ctx = data.context
    assert len(data.model_dump_json().encode()) <= 8192
    assert ctx.pods and ctx.workloads and ctx.owners
    assert ctx.logs == []
    assert "logs of " + sc["pod"]["metadata"]["name"] + "/app (previous): dropped (byte cap)" \
        in ctx.cut
    assert any(c.startswith("events: ") and "(byte cap)" in c for c in ctx.cut)


def test_the_cap_is_a_setting_and_a_small_context_is_untouched(api: FakeKubeAPI) -> None:
    sc = ko.crashlooping_deployment().load(api)
    with_nodes(api)
    ctx = enrich(api, pod_alert(sc)).context
    assert ctx.cut == [] and ctx.logs and not ctx.logs[0].truncated
    smaller = enrich(api, pod_alert(sc), max_event_bytes=4096).context
    assert smaller.cut and smaller.pods


def web_with_pods(api: FakeKubeAPI, replicas: int) -> None:
    """shop/Deployment/web with `replicas` pods of one ReplicaSet, on the fake cluster's nodes."""
    d = ko.deployment("web", "shop", replicas=replicas)
    rs = ko.replicaset(d)
    api.add_all([d, rs, *[ko.pod_for(rs, i) for i in range(replicas)]])
    with_nodes(api)


def test_pods_beyond_the_first_are_cut_by_count_then_by_bytes(api: FakeKubeAPI) -> None:
    web_with_pods(api, 40)
    ctx = enrich(api, alert({"namespace": "shop", "deployment": "web"})).context
    assert len(ctx.pods) == 20 and "pods of shop/Deployment/web: 20 more pods not described" \
        in ctx.cut
    data = enrich(api, alert({"namespace": "shop", "deployment": "web"}), max_event_bytes=12000)
    assert len(data.model_dump_json().encode()) <= 12000
    assert 1 <= len(data.context.pods) < 20
    assert any(c.startswith("pods: ") and c.endswith("of 19 dropped (byte cap)")
               for c in data.context.cut)


def test_the_pods_described_come_from_the_router_s_environment(
        api: FakeKubeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """ROUTER_MAX_PODS reaches the orient stage: the settings are its read limits."""
    monkeypatch.setenv("ROUTER_MAX_PODS", "7")
    web_with_pods(api, 12)
    ctx = enrich(api, alert({"namespace": "shop", "deployment": "web"})).context
    assert len(ctx.pods) == 7 and "pods of shop/Deployment/web: 5 more pods not described" \
        in ctx.cut
