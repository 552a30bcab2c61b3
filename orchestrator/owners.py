"""Which object an `ownerReference` points at: matched by API group, kind and uid, one rule for
the router's owner walk (the `owner.*` facts) and the executor's (opt-outs, budgets, writes).

A reference names a kind and a name, but kinds are not unique across API groups: OpenKruise's
`apps.kruise.io/v1beta1 StatefulSet` is not `apps/v1 StatefulSet`, and reading the core one of
the same name (or finding none) would give the pod the wrong owner, or none. And a name is not
an identity: an owner deleted and recreated under its name has a new uid. So a reference matches
a built-in kind only when its API group is the one that kind is read from, and a read object is
its owner only when the uids agree. Anything else is another controller, named but not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def api_group(api_version: str) -> str:
    """`apps/v1` → `apps`; `v1` → `` (the core group)."""
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def prefix_group(prefix: str) -> str:
    """The API group of a REST path prefix: `/apis/apps/v1` → `apps`; `/api/v1` → ``."""
    return "" if prefix.startswith("/api/") else prefix.split("/")[2]


def is_known(kind: str, api_version: str, prefixes: Mapping[str, str]) -> bool:
    """Whether the reference is the built-in `kind` a reader of `prefixes` (kind → REST prefix)
    reads: the kind is there and the reference's API group is that prefix's."""
    prefix = prefixes.get(kind)
    return prefix is not None and api_group(api_version) == prefix_group(prefix)


def qualified_kind(kind: str, api_version: str, prefixes: Mapping[str, str]) -> str:
    """`kind` for a built-in kind of its own group; otherwise `kind.group`, as kubectl writes a
    resource of another group (`StatefulSet.apps.kruise.io`): never the built-in kind's name."""
    if is_known(kind, api_version, prefixes):
        return kind
    group = api_group(api_version)
    if group:
        return f"{kind}.{group}"
    return kind if kind not in prefixes else f"{kind} ({api_version or 'no apiVersion'})"


def same_uid(reference_uid: str | None, obj: Mapping[str, Any]) -> bool:
    """Whether a read object is the one a reference with this uid points at (no uid in the
    reference: a name-only pointer, such as an HPA's scale target, matches by name)."""
    if not reference_uid:
        return True
    return bool((obj.get("metadata") or {}).get("uid") == reference_uid)


def describe(reference: Mapping[str, Any]) -> str:
    """`apps.kruise.io/v1beta1 StatefulSet checkout`: a reference as a person reads it."""
    return f"{reference.get('apiVersion') or '?'} {reference.get('kind') or '?'} " \
           f"{reference.get('name') or '?'}"
