"""The fake kube-apiserver with the real kubernetes client (v36): watch, fault injection,
down/up and hanging apiserver."""

from __future__ import annotations

import threading
import time

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.serving import wait_until
from tests.unit.fake_kube_api.support import status_body

# ---- watch ---------------------------------------------------------------------------------


def test_watch_sees_changes_from_other_threads(api: FakeKubeAPI, core: client.CoreV1Api,
                                               crashloop: ko.Scenario) -> None:
    name = crashloop["pod"]["metadata"]["name"]
    seen: list[tuple[str, str, str | None]] = []
    errors: list[BaseException] = []
    w = watch.Watch()

    def run() -> None:
        try:
            for ev in w.stream(core.list_namespaced_pod, namespace="shop",
                               label_selector="app=checkout", timeout_seconds=5):
                seen.append((ev["type"], ev["object"].metadata.name,
                             (ev["object"].metadata.labels or {}).get("app")))
                if ev["type"] == "DELETED":
                    w.stop()
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    api.wait_for_watchers(1)
    api.mutate("Pod", "shop", name, lambda p: p["metadata"]["labels"].update(tier="web"))
    patcher = threading.Thread(target=lambda: core.patch_namespaced_pod(
        name, "shop", {"metadata": {"labels": {"app": "moved"}}}))
    patcher.start()
    patcher.join(5)
    t.join(5)
    assert not t.is_alive() and errors == []
    # leaving the selector is a DELETED for this watcher, like a real apiserver
    assert seen == [("ADDED", name, "checkout"), ("MODIFIED", name, "checkout"),
                    ("DELETED", name, "moved")]


def test_watch_times_out_cleanly_and_resumes(api: FakeKubeAPI, core: client.CoreV1Api,
                                             crashloop: ko.Scenario) -> None:
    start = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_pod, namespace="shop",
                                       timeout_seconds=1))
    assert 0.9 < time.monotonic() - start < 3
    assert [e["type"] for e in events] == ["ADDED"]
    rv = events[0]["object"].metadata.resource_version
    core.delete_namespaced_pod(crashloop["pod"]["metadata"]["name"], "shop")
    replay = list(watch.Watch().stream(core.list_namespaced_pod, namespace="shop",
                                       resource_version=rv, timeout_seconds=1))
    assert [e["type"] for e in replay] == ["DELETED"]


# ---- faults --------------------------------------------------------------------------------


def test_fail_injection(api: FakeKubeAPI, core: client.CoreV1Api,
                        crashloop: ko.Scenario) -> None:
    name = crashloop["pod"]["metadata"]["name"]
    fault = api.fail("DELETE", r"/pods/", 403, times=1,
                     message=f'pods "{name}" is forbidden: User "system:serviceaccount:ops:'
                             'orchestrator" cannot delete resource "pods"')
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_pod(name, "shop")
    assert exc.value.status == 403 and status_body(exc.value)["reason"] == "Forbidden"
    assert fault.hits == 1 and api.requests[-1].injected_status == 403
    api.fail(None, r"^/api/v1/namespaces/shop/pods$", 500)
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_pod("shop")
    assert exc.value.status == 500 and status_body(exc.value)["reason"] == "InternalError"
    api.clear_faults()
    core.delete_namespaced_pod(name, "shop")
    assert api.get("Pod", "shop", name) is None


def test_down_up_and_hanging_api(api: FakeKubeAPI, core: client.CoreV1Api,
                                 crashloop: ko.Scenario) -> None:
    name = crashloop["pod"]["metadata"]["name"]
    core.read_namespaced_pod(name, "shop")  # leaves a pooled keep-alive connection
    api.down()
    assert not api.is_up
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.read_namespaced_pod(name, "shop")
    api.up()
    assert core.read_namespaced_pod(name, "shop").metadata.name == name

    api.delay(r"/pods/", 30)  # a hanging apiserver; urllib3 retries the read timeout 3 times
    start = time.monotonic()
    with pytest.raises(urllib3.exceptions.MaxRetryError) as exc:
        core.read_namespaced_pod(name, "shop", _request_timeout=0.2)
    assert isinstance(exc.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert time.monotonic() - start < 3
    seen, outcome = len(api.requests), []

    def read() -> None:
        try:
            core.read_namespaced_pod(name, "shop")
        except urllib3.exceptions.HTTPError as exc:
            outcome.append(exc)

    hanging = threading.Thread(target=read)
    hanging.start()
    wait_until(lambda: len(api.requests) > seen)
    start = time.monotonic()
    api.stop()  # must not wait out the 30 s delay: the held request is dropped
    hanging.join(5)
    assert not hanging.is_alive() and time.monotonic() - start < 3
    assert [type(e) for e in outcome] == [urllib3.exceptions.MaxRetryError]
