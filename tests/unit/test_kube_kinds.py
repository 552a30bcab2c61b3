"""The one table of Kubernetes resources the router's reads and the executor's writes share."""

from __future__ import annotations

import pytest

from orchestrator.adapters.kube_kinds import RESOURCES, namespaced
from orchestrator.adapters.kube_reads import KINDS, path_for
from orchestrator.adapters.kube_writes import resource
from orchestrator.errors import PermanentError
from orchestrator.sim.resources import resource_for


@pytest.mark.parametrize(("kind", "args", "path"), [
    ("Pod", ("shop", "web-1"), "/api/v1/namespaces/shop/pods/web-1"),
    ("Pod", ("shop", "web-1", "eviction"), "/api/v1/namespaces/shop/pods/web-1/eviction"),
    ("Pod", ("shop",), "/api/v1/namespaces/shop/pods"),
    ("Pod", (None,), "/api/v1/pods"),  # the collection across all namespaces
    ("Node", (None, "n1"), "/api/v1/nodes/n1"),
    ("Node", ("shop", "n1"), "/api/v1/nodes/n1"),  # cluster-scoped: no namespace in the path
    ("Deployment", ("shop", "checkout"), "/apis/apps/v1/namespaces/shop/deployments/checkout"),
    ("Lease", ("ops",), "/apis/coordination.k8s.io/v1/namespaces/ops/leases"),
])
def test_paths_follow_the_api_layout(kind: str, args: tuple[str | None, ...], path: str) -> None:
    assert RESOURCES[kind].path(*args) == path


def test_one_namespaced_object_needs_its_namespace() -> None:
    with pytest.raises(PermanentError, match="namespace is required"):
        RESOURCES["Pod"].path(None, "web-1")


def test_every_kind_is_where_a_kube_apiserver_serves_it() -> None:
    for kind, r in RESOURCES.items():
        served = resource_for(r.api_version, kind)
        assert (served.group, served.version, served.plural, served.namespaced) == \
            (r.group, r.version, r.plural, r.namespaced), kind
        assert namespaced(kind) is r.namespaced


def test_each_port_refuses_the_kinds_it_does_not_serve() -> None:
    assert path_for("Service", "shop", "web") == "/api/v1/namespaces/shop/services/web"
    with pytest.raises(PermanentError, match="the router does not handle 'Lease'"):
        path_for("Lease", "ops", "budget")
    assert resource("Lease") is RESOURCES["Lease"]
    with pytest.raises(PermanentError, match="the executor does not handle 'Service'"):
        resource("Service")
    assert "Secret" not in KINDS and "Secret" not in RESOURCES  # no port reads a Secret
