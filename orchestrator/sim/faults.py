"""What a scenario's fault does to a pod, and what cures it.

A fault is declared as data (``kind`` plus the condition under which a pod suffers), so that
whatever the loop does truly heals or truly fails: a crash tied to an image is cured by a
rollback to another image and not by a restart; an OOM tied to a memory limit survives a restart
and a rollback to a template with the same limit; a wedged process (``until_replaced``) is cured
by any replacement pod. The kubelet here (:mod:`orchestrator.sim.kubelet`) asks
:func:`suffers` for every pod it starts.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

JSON = dict[str, Any]

Kind = Literal["none", "crash", "oom", "image_pull", "not_ready", "unschedulable", "job_fails",
               "node_not_ready"]
KINDS: tuple[str, ...] = get_args(Kind)

_UNITS = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}


def memory_bytes(quantity: str | None) -> int | None:
    """`256Mi` → bytes; None when absent or unreadable."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", quantity or "")
    return int(float(m.group(1)) * _UNITS[m.group(2) or ""]) if m else None


class Fault(BaseModel):
    """One fault, as a scenario file declares it. A pod suffers when every condition given holds:

    - ``image``: its first container runs this image (a bad build: a rollback away cures it);
    - ``memory_below``: its first container's memory limit is below this (a restart does not
      cure an OOM; more memory does);
    - ``until_replaced``: it is one of the pods that existed when the scenario started (any
      replacement, by eviction or rollout restart, is healthy);
    - ``affected``: at most this many of the starting pods suffer (one replica vs all).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind = "none"
    image: str | None = None
    memory_below: str | None = None
    until_replaced: bool = False
    affected: int | None = None
    logs: str = ""
    message: str = ""
    node: str | None = None
    """node_not_ready: the node that is down."""
    exit_code: int = 1
    progress_deadline_exceeded: bool = False
    """The Deployment's rollout reports ProgressDeadlineExceeded (its controller's doing)."""


def first_container(template_or_pod: JSON) -> JSON:
    containers = (template_or_pod.get("spec") or {}).get("containers") or [{}]
    return dict(containers[0])


def suffers(fault: Fault, pod: JSON, *, starting: bool, index: int) -> bool:
    """Whether ``pod`` (its spec is enough) shows the fault. ``starting``: it existed when the
    scenario began; ``index``: its position among the starting pods of its owner."""
    if fault.kind in ("none", "node_not_ready"):
        return False
    c = first_container(pod)
    if fault.image is not None and c.get("image") != fault.image:
        return False
    if fault.memory_below is not None:
        limit = memory_bytes(((c.get("resources") or {}).get("limits") or {}).get("memory"))
        floor = memory_bytes(fault.memory_below)
        if limit is not None and floor is not None and limit >= floor:
            return False
    if fault.until_replaced and not starting:
        return False
    return not (starting and fault.affected is not None and index >= fault.affected)
