"""The executor's port to the Kubernetes API: the only writes the whole system makes.

Requests go through the connection's `ApiServer` (passed in: `kube_transport`; its TLS, auth
and pool are the caller's), and bodies travel as plain JSON both ways: the executor needs exact
patch bodies and raw objects, which a client's generated models would only put through a lossy,
validating round trip. Every failure is translated (`kube.translated`, `kube_errors`), so no
network or TLS exception crosses this module:

- 404 on a read → `None`; on a delete or an eviction → "already gone" (`False`), i.e. done;
- 409 → `Conflict` (the caller re-reads and retries once); 403 → `Forbidden` (refused, with the
  API's reason); 429 from a PodDisruptionBudget and other 4xx → `Rejected` (failed, with reason);
- 429 from API priority and fairness, 401, 5xx, timeouts, refused connections → `TransientError`,
  so the broker redelivers later.
"""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING, Any, Literal, Protocol

from orchestrator.adapters.kube import translated
from orchestrator.adapters.kube_errors import NotFound
from orchestrator.adapters.kube_kinds import Resource, resource_of, serving
from orchestrator.errors import TransientError

if TYPE_CHECKING:
    from orchestrator.adapters.kube_transport import ApiServer

Json = dict[str, Any]
PatchType = Literal["strategic", "merge", "json"]
_CONTENT_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}


RESOURCES = serving("Pod", "Node", "Namespace", "Event", "Deployment", "StatefulSet",
                    "DaemonSet", "ReplicaSet", "Job", "CronJob", "HorizontalPodAutoscaler",
                    "Lease")
"""What the executor reads and writes (the chart's executor Roles grant these)."""


class KubeWrites(Protocol):
    """What the executor does to the cluster; kinds are those of `RESOURCES`."""

    def get(self, kind: str, namespace: str | None, name: str) -> Json | None:
        """The object, or None when it does not exist."""

    def list(self, kind: str, namespace: str | None, *,
             label_selector: str | None = None) -> list[Json]:
        """Every object of a kind in a namespace (all namespaces when None)."""

    def patch(self, kind: str, namespace: str | None, name: str, body: Any, *,
              patch_type: PatchType, dry_run: bool) -> Json:
        """Patch; preconditions travel in the body (`metadata.resourceVersion`/`uid`)."""

    def evict(self, namespace: str, name: str, *, uid: str, resource_version: str | None,
              dry_run: bool) -> bool:
        """Evict a pod through the Eviction API. False when the pod is already gone."""

    def delete(self, kind: str, namespace: str | None, name: str, *, uid: str,
               resource_version: str | None, propagation: str, dry_run: bool) -> bool:
        """Delete with preconditions. False when the object is already gone."""

    def create(self, kind: str, namespace: str | None, body: Json) -> Json:
        """Create; an existing object of that name is a `Conflict` (reason AlreadyExists)."""

    def replace(self, kind: str, namespace: str | None, name: str, body: Json) -> Json:
        """PUT; `metadata.resourceVersion` in the body is the precondition."""


def resource(kind: str) -> Resource:
    return resource_of(RESOURCES, kind, who="the executor")


class KubeWriter:
    """`KubeWrites` over a connection's `ApiServer`."""

    def __init__(self, server: ApiServer, *, field_manager: str = "incident-orchestrator",
                 timeout: float = 10.0, page_size: int = 500) -> None:
        self.server = server
        self.field_manager = field_manager
        self.timeout = timeout
        self.page_size = page_size

    def get(self, kind: str, namespace: str | None, name: str) -> Json | None:
        try:
            return self._call("GET", resource(kind).path(namespace, name))
        except NotFound:
            return None

    def list(self, kind: str, namespace: str | None, *,
             label_selector: str | None = None) -> builtins.list[Json]:
        path = resource(kind).path(namespace)
        items: builtins.list[Json] = []
        token: str | None = None
        while True:
            query = [("limit", str(self.page_size))]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            page = self._call("GET", path, query=query)
            for item in page.get("items") or []:
                item.setdefault("kind", kind)
                items.append(item)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def patch(self, kind: str, namespace: str | None, name: str, body: Any, *,
              patch_type: PatchType, dry_run: bool) -> Json:
        return self._call("PATCH", resource(kind).path(namespace, name), body=body,
                          query=self._write_query(dry_run),
                          content_type=_CONTENT_TYPES[patch_type])

    def evict(self, namespace: str, name: str, *, uid: str, resource_version: str | None,
              dry_run: bool) -> bool:
        body = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": namespace},
                "deleteOptions": {"preconditions": _preconditions(uid, resource_version)}}
        try:
            self._call("POST", resource("Pod").path(namespace, name, "eviction"), body=body,
                       query=self._dry_run_query(dry_run))
        except NotFound:
            return False
        return True

    def delete(self, kind: str, namespace: str | None, name: str, *, uid: str,
               resource_version: str | None, propagation: str, dry_run: bool) -> bool:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation,
                "preconditions": _preconditions(uid, resource_version)}
        try:
            self._call("DELETE", resource(kind).path(namespace, name), body=body,
                       query=self._dry_run_query(dry_run))
        except NotFound:
            return False
        return True

    def create(self, kind: str, namespace: str | None, body: Json) -> Json:
        return self._call("POST", resource(kind).path(namespace), body=body,
                          query=self._write_query(False))

    def replace(self, kind: str, namespace: str | None, name: str, body: Json) -> Json:
        return self._call("PUT", resource(kind).path(namespace, name), body=body,
                          query=self._write_query(False))

    def _write_query(self, dry_run: bool) -> builtins.list[tuple[str, str]]:
        return [("fieldManager", self.field_manager), *self._dry_run_query(dry_run)]

    @staticmethod
    def _dry_run_query(dry_run: bool) -> builtins.list[tuple[str, str]]:
        return [("dryRun", "All")] if dry_run else []

    def _call(self, method: str, path: str, *,
              query: builtins.list[tuple[str, str]] | None = None, body: Any = None,
              content_type: str = "application/json") -> Json:
        what = f"{method} {path}"
        with translated(what):
            resp = self.server.open(method, path, what, query=query, body=body,
                                    headers={"Content-Type": content_type}, timeout=self.timeout)
            raw = resp.read()  # a server may stall mid-body: that times out here
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError as e:
            raise TransientError(f"Kubernetes API answered {method} {path} with non-JSON") from e
        if not isinstance(doc, dict):
            raise TransientError(f"Kubernetes API answered {method} {path} with a non-object")
        return doc


def _preconditions(uid: str, resource_version: str | None) -> Json:
    pre: Json = {"uid": uid}
    if resource_version:
        pre["resourceVersion"] = resource_version
    return pre
