"""The router's port to the Kubernetes API: reads, log tails and bounded watches, nothing else.

Bodies are parsed as plain JSON rather than through the client's generated models: the router
only looks at a handful of fields per object, deserializing every field of a Pod into models
is slower than the request itself, and a raw dict cannot fail a strict client's validation.
The connection's `ApiServer` (passed in: `kube_transport`) provides auth (with token refresh),
TLS and the connection pool. Failures leave this module only as `orchestrator.errors` (see
`kube.translated`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.adapters.kube import status_error, translated
from orchestrator.adapters.kube_errors import BadResponse, Gone
from orchestrator.adapters.kube_kinds import resource_of, serving

if TYPE_CHECKING:
    from orchestrator.adapters.kube_transport import ApiServer, Response, Timeout

log = logging.getLogger(__name__)

Json = dict[str, Any]
Query = list[tuple[str, str]]

KINDS = serving("Pod", "Node", "Event", "PersistentVolumeClaim", "Service", "Deployment",
                "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
                "HorizontalPodAutoscaler")
"""What the router reads (the chart's router Role grants exactly these)."""


@dataclass(frozen=True)
class Listing:
    items: list[Json]
    resource_version: str = ""
    truncated: bool = False
    """More items exist than the `limit` asked for."""


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Json


class KubeReads(Protocol):
    """What the router reads. Kinds are those of `KINDS`; namespace None = cluster-scoped/all."""

    def get(self, kind: str, namespace: str | None, name: str) -> Json:
        """The object; `NotFound`/`Forbidden` when it is gone or not readable."""

    def list(self, kind: str, namespace: str | None, *, label_selector: str | None = None,
             field_selector: str | None = None, limit: int = 500) -> Listing:
        """One page of at most `limit` objects (the router never needs them all)."""

    def logs(self, namespace: str, pod: str, container: str, *, previous: bool,
             tail_lines: int, limit_bytes: int) -> str:
        """The tail of a container's log (the previous instance's when `previous`)."""

    def watch(self, kind: str, namespace: str | None, name: str, *, resource_version: str,
              timeout_seconds: int) -> Iterator[WatchEvent]:
        """Changes to one object after `resource_version`, for at most `timeout_seconds`.
        `Gone` when that version is too old (list again)."""


def path_for(kind: str, namespace: str | None, name: str | None = None,
             sub: str | None = None) -> str:
    return resource_of(KINDS, kind, who="the router").path(namespace, name, sub)


class KubeReader:
    """`KubeReads` over a connection's `ApiServer` (its TLS, auth and pool)."""

    def __init__(self, server: ApiServer, *, timeout: float = 10.0,
                 user_agent: str = "incident-orchestrator/router") -> None:
        self.server = server
        self.timeout = timeout
        self.user_agent = user_agent

    def get(self, kind: str, namespace: str | None, name: str) -> Json:
        path = path_for(kind, namespace, name)
        doc = self._json(path, [], f"get {kind} {_where(namespace, name)}")
        doc.setdefault("kind", kind)
        return doc

    def list(self, kind: str, namespace: str | None, *, label_selector: str | None = None,
             field_selector: str | None = None, limit: int = 500) -> Listing:
        query = [("limit", str(limit))]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        what = f"list {kind} in {namespace or 'all namespaces'}"
        if label_selector or field_selector:
            what += f" ({', '.join(s for s in (label_selector, field_selector) if s)})"
        doc = self._json(path_for(kind, namespace), query, what)
        items = doc.get("items") or []
        for item in items:
            item.setdefault("kind", kind)
        meta = doc.get("metadata") or {}
        return Listing(items, str(meta.get("resourceVersion") or ""), bool(meta.get("continue")))

    def logs(self, namespace: str, pod: str, container: str, *, previous: bool,
             tail_lines: int, limit_bytes: int) -> str:
        query = [("container", container), ("tailLines", str(tail_lines)),
                 ("limitBytes", str(limit_bytes))]
        if previous:
            query.append(("previous", "true"))
        what = f"logs {namespace}/{pod}/{container}{' (previous)' if previous else ''}"
        resp = self._open(path_for("Pod", namespace, pod, "log"), query, what,
                          accept="text/plain, */*", timeout=self.timeout)
        with translated(what):
            data = resp.read()
        return data.decode("utf-8", "replace")

    def watch(self, kind: str, namespace: str | None, name: str, *, resource_version: str,
              timeout_seconds: int) -> Iterator[WatchEvent]:
        query = [("watch", "true"), ("fieldSelector", f"metadata.name={name}"),
                 ("timeoutSeconds", str(max(int(timeout_seconds), 1))),
                 ("allowWatchBookmarks", "true")]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        what = f"watch {kind} {_where(namespace, name)}"
        # The server ends the stream after timeoutSeconds; the client waits a little longer.
        resp = self._open(path_for(kind, namespace), query, what,
                          timeout=(self.timeout, timeout_seconds + self.timeout))
        try:
            with translated(what):
                for line in _lines(resp):
                    event = json.loads(line)
                    kind_of, obj = event.get("type"), event.get("object") or {}
                    if kind_of == "ERROR":
                        raise status_error(int(obj.get("code") or 500), json.dumps(obj), what)
                    yield WatchEvent(str(kind_of), obj)
        finally:
            # Leaving early (the object became healthy) must not hand a half-read stream back
            # to the pool: close the connection instead.
            resp.close()

    # ---- plumbing -----------------------------------------------------------------------------

    def _json(self, path: str, query: Query, what: str) -> Json:
        resp = self._open(path, query, what, timeout=self.timeout)
        with translated(what):
            doc = json.loads(resp.read())
        if not isinstance(doc, dict):
            raise BadResponse(0, "BadResponse", "not a JSON object", what)
        return doc

    def _open(self, path: str, query: Query, what: str, *,
              accept: str = "application/json", timeout: Timeout) -> Response:
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        with translated(what):
            return self.server.open("GET", path, what, query=query, headers=headers,
                                    timeout=timeout)


WATCH_LINE_LIMIT = 16 * 1024 * 1024
"""Bytes of one watch event (an object is at most ~1.5 MiB in etcd): beyond, the stream is bad."""


def _lines(resp: Response) -> Iterator[bytes]:
    """The stream's non-empty lines, each joined once from the chunks it arrived in."""
    parts: list[bytes] = []
    size = 0
    for chunk in resp.chunks():
        head, *lines = chunk.split(b"\n")
        if lines:
            lines.insert(0, b"".join([*parts, head]))
            parts, size = [lines.pop()], 0
            yield from (line for line in lines if line.strip())
        else:
            parts.append(head)
        size += len(parts[-1])
        if size > WATCH_LINE_LIMIT:
            raise ValueError(f"a watch event longer than {WATCH_LINE_LIMIT} bytes")
    rest = b"".join(parts)
    if rest.strip():
        yield rest


def _where(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


__all__ = ["KINDS", "Gone", "KubeReader", "KubeReads", "Listing", "WatchEvent", "path_for"]
