"""Nodes, and the cluster-level objects a pod leans on: PersistentVolumeClaims and Services."""

from __future__ import annotations

from orchestrator.context import NodeInfo, PVCInfo, ServiceInfo
from orchestrator.orient.fields import (
    Json,
    Scrubber,
    conditions,
    describe,
    meta,
    quantities,
    ref_of,
    spec,
    status,
)


def node_info(node: Json, scrub: Scrubber, pods: list[str] | None = None) -> NodeInfo:
    sp, st = spec(node), status(node)
    conds = conditions(st.get("conditions"), scrub, describe(node))
    ready = next((c.status for c in conds if c.type == "Ready"), None)
    taints = []
    for t in sp.get("taints") or []:
        value = f"={t['value']}" if t.get("value") else ""
        taints.append(f"{t.get('key')}{value}:{t.get('effect')}")
    return NodeInfo(
        ref=ref_of(node, "Node"),
        ready=ready,
        unschedulable=bool(sp.get("unschedulable")),
        conditions=conds,
        taints=taints,
        allocatable=quantities(st.get("allocatable")),
        capacity=quantities(st.get("capacity")),
        pods=pods or [],
    )


def node_addresses(node: Json) -> set[str]:
    """Every name and address a node answers to (how an `instance` label may spell it)."""
    found = {str(meta(node).get("name"))}
    for a in status(node).get("addresses") or []:
        if a.get("address"):
            found.add(str(a["address"]))
    return found


def pvc_info(pvc: Json, scrub: Scrubber) -> PVCInfo:
    sp, st = spec(pvc), status(pvc)
    return PVCInfo(
        ref=ref_of(pvc, "PersistentVolumeClaim"),
        phase=st.get("phase") or None,
        capacity=(st.get("capacity") or {}).get("storage"),
        requested=((sp.get("resources") or {}).get("requests") or {}).get("storage"),
        storage_class=sp.get("storageClassName"),
        volume_name=sp.get("volumeName"),
        conditions=conditions(st.get("conditions"), scrub, describe(pvc)),
    )


def mounts_claim(pod: Json, claim: str) -> bool:
    return any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim
               for v in spec(pod).get("volumes") or [])


def service_info(svc: Json, pods: list[Json]) -> ServiceInfo:
    sp = spec(svc)
    ports = []
    for p in sp.get("ports") or []:
        port = f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        if p.get("targetPort") is not None:
            port += f"→{p['targetPort']}"
        ports.append(f"{p['name']}:{port}" if p.get("name") else port)
    ready = 0
    for pod in pods:
        conds = status(pod).get("conditions") or []
        ready += any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
    return ServiceInfo(
        ref=ref_of(svc, "Service"),
        type=str(sp.get("type") or "ClusterIP"),
        selector={str(k): str(v) for k, v in (sp.get("selector") or {}).items()},
        ports=ports,
        pods=[str(meta(p).get("name")) for p in pods],
        ready_pods=ready,
    )
