"""RBAC-style denials a scenario declares ("the executor may not evict in this namespace"):
the simulated apiserver answers them 403 Forbidden with the message the real authorizer
writes, so the caller's handling of a missing permission is exercised for real."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ApiError

_PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)"
                   r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)"
                   r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$")
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
USER = "system:serviceaccount:orchestrator:executor"


@dataclass(frozen=True)
class Denial:
    """Deny ``verb`` on ``resource`` (``plural`` or ``plural/subresource``), optionally only in
    one namespace."""

    verb: str
    resource: str
    namespace: str | None = None


def verb_for(method: str, name: str | None, query: dict[str, str]) -> str:
    if method == "GET":
        if query.get("watch") in ("1", "true", "True"):
            return "watch"
        return "get" if name else "list"
    return _VERBS.get(method, method.lower())


def check(denials: list[Denial], method: str, path: str, query: dict[str, str]) -> None:
    """Raise the real authorizer's 403 when a denial matches this request."""
    m = _PATH.match(path)
    if m is None:
        return
    plural, name, sub = m.group("plural"), m.group("name"), m.group("sub")
    resource = f"{plural}/{sub}" if sub else plural
    verb = verb_for(method, name, query)
    ns, group = m.group("ns"), m.group("group") or ""
    for d in denials:
        if d.verb in (verb, "*") and d.resource == resource and d.namespace in (None, ns):
            what = f'{plural} "{name}" is forbidden' if name else f"{plural} is forbidden"
            where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            raise ApiError(403, "Forbidden",
                           f'{what}: User "{USER}" cannot {verb} resource "{resource}" in API '
                           f'group "{group}"{where}',
                           {"name": name or "", "group": group, "kind": plural})
