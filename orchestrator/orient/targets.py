"""Which Kubernetes object an alert is about, from its labels alone.

Alerts name their object in labels that kube-state-metrics, the kubelet and node-exporter use
(`pod`, `deployment`, `job_name`, `node`, `persistentvolumeclaim`...), but they also carry labels
about the *scrape*: `job="kube-state-metrics"`, `service="kube-state-metrics"`, `instance=<the
exporter's address>`. So the object labels are tried first, most specific first, and the scrape
labels only when nothing else names an object, and only when their value could be one:
`job` must not be a well-known scrape job, and `instance` is a node only once the cluster says so.
Which label names which kind is `kube_kinds.OBJECT_LABELS`, the table the executor reads too.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from orchestrator.adapters.kube_kinds import OBJECT_LABELS, namespaced
from orchestrator.context import ObjectRef

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PORT = re.compile(r":\d{1,5}$")

# Scrape jobs of the usual monitoring stacks: a `job` label with one of these names is the
# exporter that saw the problem, never the object the alert is about.
SCRAPE_JOBS = frozenset({
    "kube-state-metrics", "kubelet", "node-exporter", "apiserver", "kube-apiserver",
    "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns", "kube-dns", "cadvisor",
    "prometheus", "prometheus-k8s", "alertmanager", "alertmanager-main", "prometheus-operator",
    "blackbox-exporter", "blackbox", "grafana", "kube-etcd", "etcd", "node", "pushgateway",
})


@dataclass(frozen=True)
class Target:
    """What the labels say: the object (if any), and hints the cluster reads may confirm."""

    ref: ObjectRef | None
    container: str | None = None
    weak: bool = False
    """The object comes from a scrape label (`service`, `job`): a 404 means "not an object"."""
    instance_host: str | None = None
    """The `instance` label's host, to look up as a node when nothing else names an object."""
    note: str | None = None
    """Why the labels could not name an object, when they could not."""


def valid_name(name: str) -> bool:
    return len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))


def instance_host(instance: str) -> str | None:
    """`10.0.0.7:9100` → `10.0.0.7`; `[fd00::1]:9100` → `fd00::1`; `node-1` → `node-1`."""
    host = instance.strip()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = _PORT.sub("", host)
    if "/" in host or not host:
        return None
    return host


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(labels: dict[str, str]) -> Target:
    """The alert's object, from its labels (no cluster needed)."""
    ns = labels.get("namespace") or None
    container = labels.get("container") or None
    missing_ns = None
    for label, kind in OBJECT_LABELS:
        name = labels.get(label)
        if not name or not valid_name(name):
            continue
        if not namespaced(kind):
            return Target(ObjectRef(kind=kind, name=name), container=container)
        if ns is None:
            missing_ns = missing_ns or f"label {label}={name} but no namespace label"
            continue
        return Target(ObjectRef(kind=kind, name=name, namespace=ns), container=container)
    if ns is not None:
        service = labels.get("service")
        if service and valid_name(service) and service not in SCRAPE_JOBS:
            return Target(ObjectRef(kind="Service", name=service, namespace=ns),
                          container=container, weak=True)
        job = labels.get("job")
        if job and valid_name(job) and job not in SCRAPE_JOBS:
            return Target(ObjectRef(kind="Job", name=job, namespace=ns), container=container,
                          weak=True)
    host = instance_host(labels.get("instance", ""))
    if host:
        return Target(None, container=container, instance_host=host, note=missing_ns)
    return Target(None, container=container,
                  note=missing_ns or "no label names a Kubernetes object")
