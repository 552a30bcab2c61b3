"""The executor's write port (orchestrator.adapters.kube_writes) against the fake API server:
404 semantics, and every failure translated so no kubernetes/urllib3 exception leaks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.adapters.kube_errors import Conflict, Forbidden, NotFound, Rejected
from orchestrator.adapters.kube_writes import KubeWriter
from orchestrator.errors import OrchestratorError, PermanentError, TransientError
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI


@pytest.fixture
def fake() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as api:
        yield api


@pytest.fixture
def kube(fake: FakeKubeAPI) -> KubeWriter:
    return KubeWriter(fake.server(), timeout=5)


def test_absence_is_none_on_reads_and_done_on_deletes(kube: KubeWriter) -> None:
    assert kube.get("Pod", "shop", "nope") is None
    assert kube.evict("shop", "nope", uid="u", resource_version=None, dry_run=False) is False
    assert kube.delete("Job", "shop", "nope", uid="u", resource_version=None,
                       propagation="Background", dry_run=False) is False
    with pytest.raises(NotFound):
        kube.patch("Deployment", "shop", "nope", {"spec": {}}, patch_type="strategic",
                   dry_run=False)


def test_dry_run_changes_nothing(fake: FakeKubeAPI, kube: KubeWriter) -> None:
    d = fake.add(ko.deployment("web", "shop", replicas=2))
    out = kube.patch("Deployment", "shop", "web", {"spec": {"replicas": 3}},
                     patch_type="strategic", dry_run=True)
    assert out["spec"]["replicas"] == 3
    assert fake.get("Deployment", "shop", "web")["spec"]["replicas"] == 2
    assert fake.requests[-1].query == {"fieldManager": "incident-orchestrator", "dryRun": "All"}
    assert fake.get("Deployment", "shop", "web")["metadata"]["resourceVersion"] == \
        d["metadata"]["resourceVersion"]


def test_preconditions_fail_as_conflicts(fake: FakeKubeAPI, kube: KubeWriter) -> None:
    p = fake.add(ko.pod("web-1", "shop", owner=fake.add(ko.deployment("web", "shop"))))
    with pytest.raises(Conflict) as e:
        kube.evict("shop", "web-1", uid=p["metadata"]["uid"], resource_version="1",
                   dry_run=False)
    assert e.value.code == 409 and "ResourceVersion" in e.value.message
    with pytest.raises(Conflict):
        kube.patch("Pod", "shop", "web-1", {"metadata": {"resourceVersion": "1",
                                                         "labels": {"a": "b"}}},
                   patch_type="strategic", dry_run=False)
    with pytest.raises(Conflict):
        kube.delete("Pod", "shop", "web-1", uid="another-uid", resource_version=None,
                    propagation="Background", dry_run=False)
    assert fake.get("Pod", "shop", "web-1") is not None


def test_create_of_an_existing_object_is_an_already_exists_conflict(kube: KubeWriter) -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "l", "namespace": "io"}, "spec": {}}
    kube.create("Lease", "io", lease)
    with pytest.raises(Conflict) as e:
        kube.create("Lease", "io", lease)
    assert e.value.reason == "AlreadyExists"


@pytest.mark.parametrize(("status", "details", "error"), [
    (403, None, Forbidden),
    (422, None, Rejected),
    (429, {"causes": [{"reason": "DisruptionBudget", "message": "needs 2 healthy"}]}, Rejected),
    (429, None, TransientError),  # priority and fairness shedding load: retry later
    (401, None, TransientError),  # an expired token is re-read on the next attempt
    (500, None, TransientError),
    (503, None, TransientError),
])
def test_api_errors_are_translated(fake: FakeKubeAPI, kube: KubeWriter, status: int,
                                   details: dict | None, error: type) -> None:
    fake.fail("*", r"/pods", status, details=details)
    with pytest.raises(error) as e:
        kube.evict("shop", "web-1", uid="u", resource_version=None, dry_run=False)
    assert isinstance(e.value, OrchestratorError)
    assert isinstance(e.value, PermanentError) == (error is not TransientError)
    if details:
        assert "needs 2 healthy" in str(e.value)


def test_an_unreachable_api_is_transient(fake: FakeKubeAPI, kube: KubeWriter) -> None:
    fake.down()
    with pytest.raises(TransientError, match="unreachable"):
        kube.get("Pod", "shop", "web-1")


def test_an_api_that_stalls_mid_answer_is_transient(fake: FakeKubeAPI) -> None:
    """Headers sent, then the body held past the timeout: a retry for the broker, not a
    urllib3 exception escaping the adapter."""
    fake.add(ko.pod("web-1", "shop"))
    fake.delay(r"/pods/web-1$", 2, body=True)
    with pytest.raises(TransientError, match="unreachable"):
        KubeWriter(fake.server(), timeout=0.3).get("Pod", "shop", "web-1")


def test_lists_follow_continue_tokens(fake: FakeKubeAPI) -> None:
    kube = KubeWriter(fake.server(), page_size=3)
    d = fake.add(ko.deployment("web", "shop"))
    for rev in range(1, 8):
        fake.add(ko.replicaset(d, revision=rev, image=f"img:{rev}"))
    fake.add(ko.replicaset(fake.add(ko.deployment("other", "shop"))))
    found = kube.list("ReplicaSet", "shop", label_selector="app=web")
    assert len(found) == 7 and all(rs["kind"] == "ReplicaSet" for rs in found)
    assert len(kube.list("ReplicaSet", None)) == 8
    assert len(fake.find_requests("GET", r"/replicasets$", labelSelector="app=web")) == 3
