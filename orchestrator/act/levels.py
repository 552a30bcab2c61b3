"""Autonomy levels: how far the executor may go, per namespace and per workload.

Trust is earned per scope. From strictest to freest:

- `disabled`: nothing is evaluated; the plan is refused.
- `observe`: nothing is executed, not even a server-side dry run (which RBAC counts as a write).
  The executor still runs every check on its own reads (policy, the runbook's `when`, budget,
  remembered failures) and records what it *would* do, with the reasons.
- `dry-run`: every action is dry-run on the API server; nothing changes.
- `approve`: every action waits for a signed human approval, whatever its risk.
- `auto`: low-risk, auto-approved actions run alone; the rest wait for a human (the old
  `enforce`).

The cluster default is the policy's `mode`; `namespaces.levels` sets a namespace (an exact name
beats a glob; among globs the strictest wins) and replaces the default there, so a namespace can
be promoted above it. A workload, one of its owners or its Namespace object can only make it
stricter, with `orchestrator.io/automation` as an annotation or label. The old spellings stay:
`mode: off | dry-run | enforce` mean `disabled | dry-run | auto`, and on an object `enabled`,
`on`, `true`, `yes` and `1` leave the level alone while `off`, `false`, `no`, `0` and anything
not understood mean `disabled` (a person who wrote the key was thinking about stopping the loop).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["disabled", "observe", "dry-run", "approve", "auto"]
LEVELS: tuple[Level, ...] = ("disabled", "observe", "dry-run", "approve", "auto")
"""Strictest first."""
ALIASES: dict[str, Level] = {"off": "disabled", "enforce": "auto"}
"""Today's `mode` spellings, kept working."""
AUTOMATION_KEY = "orchestrator.io/automation"
UNRESTRICTED = frozenset({"enabled", "enable", "on", "true", "yes", "1"})
"""Values of the key that leave the level as the policy sets it."""


def as_level(value: str) -> Level:
    """A level from a level name or a `mode` alias; ValueError otherwise."""
    text = value.strip().lower()
    if text in LEVELS:
        return text
    if text in ALIASES:
        return ALIASES[text]
    raise ValueError(f"unknown automation level {value!r} (one of {', '.join(LEVELS)}; "
                     f"or the modes {', '.join(ALIASES)} and dry-run)")


def stricter(a: Level, b: Level) -> Level:
    return a if LEVELS.index(a) <= LEVELS.index(b) else b


def namespace_level(default: str, levels: Mapping[str, str], namespace: str | None
                    ) -> tuple[Level, str]:
    """The policy's level for a namespace, and where it comes from."""
    if namespace:
        if namespace in levels:
            return as_level(levels[namespace]), f"namespaces.levels[{namespace!r}]"
        matched = [(as_level(v), p) for p, v in levels.items()
                   if fnmatch.fnmatchcase(namespace, p)]
        if matched:
            level, pattern = min(matched, key=lambda m: LEVELS.index(m[0]))
            return level, f"namespaces.levels[{pattern!r}]"
    return as_level(default), "the policy's mode"


def marked_level(obj: Mapping[str, Any]) -> tuple[Level, str] | None:
    """The level an object asks for with `orchestrator.io/automation`, and how it says so;
    None when it says nothing (or says `enabled`)."""
    meta = obj.get("metadata") or {}
    for where, field in (("annotated", "annotations"), ("labelled", "labels")):
        value = (meta.get(field) or {}).get(AUTOMATION_KEY)
        if value is None or str(value).strip().lower() in UNRESTRICTED:
            continue
        try:
            level = as_level(str(value))
        except ValueError:
            level = "disabled"
        return level, f"{obj.get('kind')} {meta.get('name')} is {where} {AUTOMATION_KEY}: {value}"
    return None


@dataclass(frozen=True)
class Resolution:
    """The level one target runs at, and each reason that set or lowered it."""

    level: Level
    why: tuple[str, ...]

    def describe(self) -> str:
        return f"level {self.level} ({'; '.join(self.why)})"


def resolve(*, default: str, levels: Mapping[str, str], namespace: str | None,
            objects: Iterable[Mapping[str, Any]]) -> Resolution:
    """The namespace's level, lowered by every object (target, owners, Namespace) that asks."""
    level, source = namespace_level(default, levels, namespace)
    why = [f"{source}: {level}"]
    for obj in objects:
        marked = marked_level(obj)
        if marked is not None and stricter(marked[0], level) != level:
            level = marked[0]
            why.append(marked[1])
    return Resolution(level, tuple(why))


def strictest(resolutions: Iterable[Resolution]) -> Resolution | None:
    """The plan runs at the level of its strictest target."""
    found = list(resolutions)
    if not found:
        return None
    return min(found, key=lambda r: LEVELS.index(r.level))
