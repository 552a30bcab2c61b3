"""Fixtures of the fake kube-apiserver tests: a fresh fake per test (which must end without
a server-side error), the real kubernetes client on it, and the crash-looping scenario."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI

pytest.register_assert_rewrite("tests.unit.fake_kube_api.support")


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as fake:
        yield fake
        assert fake.server_errors == []


@pytest.fixture
def ac(api: FakeKubeAPI) -> Any:
    return api.api_client()


@pytest.fixture
def core(ac: Any) -> client.CoreV1Api:
    return client.CoreV1Api(ac)


@pytest.fixture
def apps(ac: Any) -> client.AppsV1Api:
    return client.AppsV1Api(ac)


@pytest.fixture
def crashloop(api: FakeKubeAPI) -> ko.Scenario:
    return ko.crashlooping_deployment().load(api)
