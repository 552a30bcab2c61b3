"""The simulated cluster's API server: the real Kubernetes REST wire protocol (JSON) in-process.

The real ``kubernetes`` client (and so the router and executor, unchanged) talks to it::

    with SimAPI() as api:
        api.add(pods.pod("web-1", "shop"))
        # point a kubeconfig at it: api.write_kubeconfig(path)

It is product code: ``orchestrator eval`` and ``orchestrator demo`` run the five functions against
it, with :mod:`orchestrator.sim.controllers` moving state the way Kubernetes does. Stdlib only:
a ``ThreadingHTTPServer`` on 127.0.0.1 (random port) served from a daemon thread.
Layout: ``server`` (server, connections, request log, watch streaming), ``rest`` (routing, verbs,
subresources), ``wire`` (request/response types), ``discovery``, ``logs``, ``watch`` (watch
events), ``store`` (objects, lifecycle, history), ``resources`` (served types, name
resolution), ``errors`` (``ApiError``), ``selectors`` (label/field selectors), ``patch`` (the
three patch flavours), ``rbac`` (403s a scenario declares). This module is the facade:
lifecycle, store helpers, fault injection (``fail``/``delay``/``down``/``up``), RBAC denials and
the request log.

Known simplifications (documented, not hidden): deletion is immediate unless the object carries
finalizers (the DELETE response still shows the pod's graceful deletionTimestamp), cascading
deletion is synchronous, server-side apply answers 415, and no admission/validation runs beyond
what the handlers need. Controllers are separate (``controllers``) and optional.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .errors import JSON
from .rbac import Denial
from .resources import resolve, resource_for
from .server import REASONS, Delay, Fault, RecordedRequest, Server, wait_until
from .store import Store

__all__ = ["SimAPI", "RecordedRequest", "Fault", "Delay", "wait_until"]


class SimAPI:
    """A simulated kube-apiserver for the real ``kubernetes`` client. Use as a context manager."""

    def __init__(self, port: int = 0) -> None:
        self.store = Store()
        self.bookmark_interval = 60.0  # seconds an idle watch waits for a BOOKMARK (as kube)
        self.denials: list[Denial] = []  # RBAC-style 403s a scenario declares (rbac.Denial)
        self.server_errors: list[str] = []  # tracebacks of bugs in the fake itself
        self._port = port
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._delays: list[Delay] = []
        self._closers: list[Callable[[], None]] = []  # clients handed out, closed by stop()
        self._watchers = 0
        self._watch_cond = threading.Condition()
        self._started = False

    # ---- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> SimAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SimAPI:
        if not self._started:
            self._started = True
            self.up()
        return self

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def up(self) -> None:
        """(Re)bind the listening socket on the same port and serve."""
        with self._lock:
            if self._server is not None:
                return
            self._server = Server(("127.0.0.1", self._port), self)
            self._port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                            name="fake-kube-api", daemon=True)
            self._thread.start()

    def down(self) -> None:
        """Close the listening socket and every open connection: clients get refused/reset
        (open watch streams are cut without their terminating chunk)."""
        self._shutdown(abrupt=True)

    def _shutdown(self, abrupt: bool) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None or thread is None:
            return
        server.abrupt = abrupt
        server.wake.set()
        server.shutdown()
        server.server_close()
        thread.join()
        if not abrupt:  # let open watches write their final chunk
            with self._watch_cond:
                self._watch_cond.wait_for(lambda: self._watchers == 0, 2.0)
        server.close_connections()

    def stop(self) -> None:
        """Shut down: open watch streams end cleanly, delayed requests are dropped."""
        self._shutdown(abrupt=False)
        self.store.close()
        for close in self._closers:
            close()
        self._closers.clear()

    def reset(self) -> None:
        """A fresh, empty cluster behind the same address: the old store is closed (its watches
        end), the request log, faults and denials are cleared."""
        old, self.store = self.store, Store()
        old.close()
        self.denials.clear()
        self.clear_faults()
        self.clear_requests()

    def on_stop(self, close: Callable[[], None]) -> None:
        """Run ``close`` when the server stops (e.g. a client pool handed out by a caller)."""
        self._closers.append(close)

    # ---- kubeconfig ----------------------------------------------------------------------------

    def write_kubeconfig(self, path: str, namespace: str = "default") -> str:
        """Write a kubeconfig (JSON is valid YAML) for ``config.load_kube_config``."""
        doc = {
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake",
                                                      "namespace": namespace}}],
        }
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        return path

    # ---- store helpers (test side; changes are seen by watches) ------------------------------

    def add(self, obj: JSON, *, replace: bool = False) -> JSON:
        """Store an object as-is (status kept). Fills uid/resourceVersion/creationTimestamp."""
        return self.store.add(obj, replace=replace)

    def add_all(self, objs: Iterable[JSON]) -> list[JSON]:
        return [self.add(o) for o in objs]

    def get(self, kind: str, namespace: str | None, name: str) -> JSON | None:
        with self.store.lock:
            obj = self.store.get(resolve(kind), namespace, name)
            return copy.deepcopy(obj) if obj is not None else None

    def objects(self, kind: str, namespace: str | None = None) -> list[JSON]:
        return copy.deepcopy(self.store.objects(resolve(kind), namespace))

    def update(self, obj: JSON, *, check_resource_version: bool = False) -> JSON:
        """Replace a stored object wholesale (status included), as a controller would."""
        rt = resource_for(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        ns = (meta.get("namespace") or "default") if rt.namespaced else None
        return self.store.update(rt, ns, meta["name"], obj, check_rv=check_resource_version,
                                 mode="all")

    def mutate(self, kind: str, namespace: str | None, name: str,
               fn: Callable[[JSON], JSON | None]) -> JSON:
        """Apply ``fn`` to a copy of the object (edit in place or return a new dict)."""
        return self.store.mutate(resolve(kind), namespace, name, fn)

    def remove(self, kind: str, namespace: str | None, name: str, *, cascade: bool = False) -> JSON:
        """Delete from the store (emits DELETED); finalizers are ignored here."""
        rt = resolve(kind)
        with self.store.lock:
            obj = self.store.must_get(rt, namespace, name)
            self.store._remove(rt, obj)
            if cascade:
                self.store._cascade(obj["metadata"]["uid"], "Background")
            return obj

    def set_logs(self, namespace: str, pod: str, container: str, text: str,
                 previous: bool = False) -> None:
        self.store.logs[(namespace, pod, container, previous)] = text

    @property
    def resource_version(self) -> int:
        return self.store.resource_version

    # ---- fault injection ---------------------------------------------------------------------

    def fail(self, method: str | None, path_regex: str, status: int, times: int | None = None,
             reason: str | None = None, message: str | None = None,
             details: JSON | None = None) -> Fault:
        """Answer matching requests (``method`` None or ``"*"`` = any) with a Status error."""
        fault = Fault(None if method in (None, "*") else method.upper(), re.compile(path_regex),
                      status, times, reason or REASONS.get(status, "Unknown"),
                      message or f"simulated kube-apiserver: injected {status} failure", details)
        with self._lock:
            self._faults.append(fault)
        return fault

    def delay(self, path_regex: str, seconds: float, *, method: str | None = None,
              times: int | None = None, body: bool = False) -> Delay:
        """Hold matching requests for ``seconds`` (cut short by ``down()``/``stop()``); with
        ``body``, answer the headers at once and hold the body (a server stalling mid-answer)."""
        rule = Delay(None if method in (None, "*") else method.upper(), re.compile(path_regex),
                     seconds, times, body=body)
        with self._lock:
            self._delays.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def _take_rule(self, rules: list[Any], method: str, path: str) -> Any:
        with self._lock:
            for rule in rules:
                if (rule.method is None or rule.method == method) and rule.pattern.search(path):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            rules.remove(rule)
                    return rule
        return None

    # ---- request log -------------------------------------------------------------------------

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_since(self, seen: int) -> list[RecordedRequest]:
        """The requests after the first `seen` (a follower's cheap poll of a long log)."""
        with self._lock:
            return self._requests[seen:]

    def find_requests(self, method: str | None = None, path: str | None = None,
                      **query: str) -> list[RecordedRequest]:
        """Requests by method, ``path`` regex (re.search) and exact query values."""
        return [r for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or re.search(path, r.path))
                and all(r.query.get(k) == v for k, v in query.items())]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # ---- waiting -----------------------------------------------------------------------------

    @property
    def watchers(self) -> int:
        """Number of watch streams currently open (initial events already sent)."""
        return self._watchers

    def wait_for_watchers(self, count: int = 1, timeout: float = 5.0) -> None:
        with self._watch_cond:
            if not self._watch_cond.wait_for(lambda: self._watchers >= count, timeout):
                raise TimeoutError(f"{count} watcher(s) not connected within {timeout}s")

    wait_until = staticmethod(wait_until)
