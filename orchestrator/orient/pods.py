"""Pods as a responder reads them: phase, conditions, each container's state and last state.

`kubectl describe pod` is the model: why each container is not running (CrashLoopBackOff,
ImagePullBackOff), how the previous instance ended (OOMKilled, exit 137), how often it
restarted, what it asked for, and where its environment comes from (names and sources only:
a value is never read, so it can never leak).
"""

from __future__ import annotations

from typing import Any

from orchestrator.context import ContainerInfo, EnvVarSource, PodInfo
from orchestrator.orient.fields import (
    Json,
    Scrubber,
    conditions,
    controller_of,
    describe,
    integer,
    meta,
    quantities,
    ref_of,
    spec,
    status,
    when,
)


def pod_info(pod: Json, scrub: Scrubber) -> PodInfo:
    where = describe(pod)
    st, sp = status(pod), spec(pod)
    conds = conditions(st.get("conditions"), scrub, where)
    ready = any(c.type == "Ready" and c.status == "True" for c in conds)
    return PodInfo(
        ref=ref_of(pod, "Pod"),
        phase=st.get("phase") or None,
        reason=st.get("reason") or None,
        message=scrub.text(st.get("message"), where),
        node=sp.get("nodeName") or None,
        ready=ready,
        created_at=when(meta(pod).get("creationTimestamp")),
        conditions=conds,
        containers=_containers(sp.get("containers"), st.get("containerStatuses"), scrub, where),
        init_containers=_containers(sp.get("initContainers"), st.get("initContainerStatuses"),
                                    scrub, where),
        owner=controller_of(pod),
        labels=scrub.mapping(meta(pod).get("labels"), f"{where} labels"),
        annotations=scrub.mapping(meta(pod).get("annotations"), f"{where} annotations"),
    )


def _containers(specs: Any, statuses: Any, scrub: Scrubber, where: str) -> list[ContainerInfo]:
    by_name = {s.get("name"): s for s in statuses or [] if isinstance(s, dict)}
    return [_container(c, by_name.get(c.get("name")) or {}, scrub, f"{where} container "
                       f"{c.get('name')}") for c in specs or [] if isinstance(c, dict)]


def _container(c: Json, s: Json, scrub: Scrubber, where: str) -> ContainerInfo:
    state, detail = _state(s.get("state"))
    last, last_detail = _state(s.get("lastState"))
    resources = c.get("resources") or {}
    return ContainerInfo(
        name=str(c.get("name")),
        image=str(s.get("image") or c.get("image") or ""),
        ready=bool(s.get("ready")),
        restart_count=integer(s.get("restartCount")),
        state=state,
        reason=detail.get("reason") or None,
        message=scrub.text(detail.get("message"), where),
        exit_code=detail.get("exitCode") if state == "terminated" else None,
        last_state=None if last == "unknown" else last,
        last_reason=last_detail.get("reason") or None,
        last_exit_code=last_detail.get("exitCode") if last == "terminated" else None,
        last_finished_at=when(last_detail.get("finishedAt")),
        last_message=scrub.text(last_detail.get("message"), f"{where} last state"),
        requests=quantities(resources.get("requests")),
        limits=quantities(resources.get("limits")),
        env=env_sources(c),
    )


def _state(value: Any) -> tuple[Any, Json]:
    """(running|waiting|terminated|unknown, that state's detail)."""
    if isinstance(value, dict):
        for name in ("waiting", "terminated", "running"):
            if isinstance(value.get(name), dict):
                return name, value[name]
    return "unknown", {}


def env_sources(c: Json) -> list[EnvVarSource]:
    """Names and origins of a container's environment; values are never looked at."""
    out: list[EnvVarSource] = []
    for var in c.get("env") or []:
        name, src = str(var.get("name")), var.get("valueFrom")
        if not isinstance(src, dict):
            out.append(EnvVarSource(name=name, source="literal"))
        elif ref := src.get("secretKeyRef"):
            out.append(EnvVarSource(name=name, source="secret",
                                    ref=f"{ref.get('name')}/{ref.get('key')}"))
        elif ref := src.get("configMapKeyRef"):
            out.append(EnvVarSource(name=name, source="configmap",
                                    ref=f"{ref.get('name')}/{ref.get('key')}"))
        elif ref := src.get("fieldRef"):
            out.append(EnvVarSource(name=name, source="field", ref=ref.get("fieldPath")))
        elif ref := src.get("resourceFieldRef"):
            out.append(EnvVarSource(name=name, source="resource", ref=ref.get("resource")))
        else:
            out.append(EnvVarSource(name=name, source="unknown"))
    for src in c.get("envFrom") or []:
        prefix = str(src.get("prefix") or "")
        if ref := src.get("secretRef"):
            out.append(EnvVarSource(name=f"{prefix}*", source="secret", ref=ref.get("name")))
        elif ref := src.get("configMapRef"):
            out.append(EnvVarSource(name=f"{prefix}*", source="configmap", ref=ref.get("name")))
    return out


def trouble(pod: Json) -> tuple[int, int, int]:
    """Sort key of a raw pod, worst first: not ready, containers waiting or failed, restarts.

    Computed on the raw object so that only the pods kept are converted (and redacted)."""
    st = status(pod)
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in st.get("conditions") or [])
    statuses = [*(st.get("containerStatuses") or []), *(st.get("initContainerStatuses") or [])]
    failing = restarts = 0
    for s in statuses:
        state = s.get("state") or {}
        code = (state.get("terminated") or {}).get("exitCode")
        failing += bool(state.get("waiting")) or code not in (0, None)
        restarts += integer(s.get("restartCount"))
    return (0 if ready or st.get("phase") == "Succeeded" else 1, failing, restarts)


def log_worthy(p: PodInfo, wanted: str | None) -> list[tuple[str, bool]]:
    """(container, previous) pairs worth a log tail, most telling first.

    The previous instance of a restarted container holds the crash; the current one is read
    when it ran at all (a container waiting for its image has no log, and asking costs a 400).
    """
    if not p.node:
        return []
    containers = [*p.init_containers, *p.containers]
    unhappy = [c for c in containers if not c.ready and c.state != "unknown"
               and not (c.state == "terminated" and c.exit_code == 0)]
    chosen = [c for c in containers if c.name == wanted] or unhappy or \
        (p.containers[:1] if len(p.containers) == 1 else [])
    pairs: list[tuple[str, bool]] = []
    for c in chosen[:2]:
        if c.last_state == "terminated":
            pairs.append((c.name, True))
        if c.state in ("running", "terminated"):
            pairs.append((c.name, False))
    return pairs
