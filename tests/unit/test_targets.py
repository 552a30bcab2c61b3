"""Alert labels → the Kubernetes object they are about (no cluster needed)."""

from __future__ import annotations

import pytest

from orchestrator.orient.targets import instance_host, resolve

KSM = {"job": "kube-state-metrics", "service": "kube-state-metrics",
       "instance": "10.42.3.17:8080", "endpoint": "http"}


@pytest.mark.parametrize(("labels", "kind", "name", "namespace"), [
    ({**KSM, "namespace": "payments", "pod": "checkout-7d9f8b6c5-x2k4q", "container": "app"},
     "Pod", "checkout-7d9f8b6c5-x2k4q", "payments"),
    ({**KSM, "namespace": "shop", "deployment": "checkout"}, "Deployment", "checkout", "shop"),
    ({**KSM, "namespace": "data", "statefulset": "postgres"}, "StatefulSet", "postgres", "data"),
    ({**KSM, "namespace": "kube-system", "daemonset": "fluent-bit"}, "DaemonSet", "fluent-bit",
     "kube-system"),
    ({**KSM, "namespace": "batch", "job_name": "nightly-29000000"}, "Job", "nightly-29000000",
     "batch"),
    ({**KSM, "namespace": "batch", "cronjob": "nightly"}, "CronJob", "nightly", "batch"),
    ({**KSM, "namespace": "shop", "horizontalpodautoscaler": "search"},
     "HorizontalPodAutoscaler", "search", "shop"),
    ({**KSM, "namespace": "data", "persistentvolumeclaim": "data-postgres-0"},
     "PersistentVolumeClaim", "data-postgres-0", "data"),
    ({**KSM, "node": "worker-7"}, "Node", "worker-7", None),
    # The pod wins over the node a kubelet alert also names.
    ({"namespace": "shop", "pod": "web-0", "node": "worker-7", "job": "kubelet"}, "Pod", "web-0",
     "shop"),
    # Scrape labels name an object only when nothing else does, and are then "weak".
    ({"namespace": "shop", "service": "checkout", "job": "checkout"}, "Service", "checkout",
     "shop"),
    ({"namespace": "batch", "job": "reindex"}, "Job", "reindex", "batch"),
])
def test_labels_name_the_object(labels: dict[str, str], kind: str, name: str,
                                namespace: str | None) -> None:
    t = resolve(labels)
    assert t.ref is not None
    assert (t.ref.kind, t.ref.name, t.ref.namespace) == (kind, name, namespace)


def test_the_container_label_is_kept() -> None:
    assert resolve({"namespace": "a", "pod": "p", "container": "sidecar"}).container == "sidecar"


def test_scrape_labels_are_weak_and_exporters_are_never_targets() -> None:
    assert resolve({"namespace": "shop", "service": "checkout"}).weak
    assert not resolve({"namespace": "shop", "pod": "p"}).weak
    only_exporter = resolve({**KSM, "namespace": "shop"})
    assert only_exporter.ref is None
    assert only_exporter.instance_host == "10.42.3.17"


def test_a_podmonitor_job_label_is_not_a_job_name() -> None:
    t = resolve({"namespace": "shop", "job": "shop/checkout"})
    assert t.ref is None


def test_namespaced_labels_without_namespace_explain_themselves() -> None:
    t = resolve({"alertname": "X", "pod": "web-0"})
    assert t.ref is None
    assert t.note == "label pod=web-0 but no namespace label"


def test_an_invalid_name_is_not_a_target() -> None:
    assert resolve({"namespace": "shop", "pod": "Not_A_Valid_Name"}).ref is None


def test_nothing_to_go_on() -> None:
    t = resolve({"alertname": "Watchdog"})
    assert t.ref is None and t.instance_host is None
    assert t.note == "no label names a Kubernetes object"


@pytest.mark.parametrize(("instance", "host"), [
    ("10.0.0.7:9100", "10.0.0.7"),
    ("worker-7:9100", "worker-7"),
    ("worker-7", "worker-7"),
    ("[fd00::1]:9100", "fd00::1"),
    ("fd00::1", "fd00::1"),
    ("http://probe.example.com/health", None),
    ("", None),
])
def test_instance_host(instance: str, host: str | None) -> None:
    assert instance_host(instance) == host
