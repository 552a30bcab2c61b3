"""Real HTTP subscribers and eventing YAML for the local broker's functional tests.

Subscribers are ThreadingHTTPServers on real ports that record every request and answer with a
scripted function, so the broker is exercised over the wire exactly as the functions see it.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from orchestrator.local.broker import Broker
from orchestrator.local.triggers import EventingConfig, load_eventing
from tests.fakes.serving import QuietHandler, serve_in_thread

BROKER_YAML = """
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: test
  annotations: {eventing.knative.dev/broker.class: Kafka}
spec:
  delivery:
    retry: 3
    backoffPolicy: exponential
    backoffDelay: PT1S
    timeout: PT5S
    deadLetterSink:
      ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: sink}
      uri: /deadletter
"""


def trigger(name: str, subscriber: str, *, filters: str = "", uri: str = "",
            ordered: bool = False, delivery: str = "") -> str:
    """One Trigger document; `filters` and `delivery` are YAML snippets under spec."""
    lines = [
        "apiVersion: eventing.knative.dev/v1", "kind: Trigger", "metadata:", f"  name: {name}",
        "  annotations:",
        f"    kafka.eventing.knative.dev/delivery.order: {'ordered' if ordered else 'unordered'}",
        "spec:", "  broker: test",
    ]
    if filters:
        lines.append(textwrap.indent(textwrap.dedent(filters).strip(), "  "))
    ref = f"  subscriber:\n    ref: {{apiVersion: serving.knative.dev/v1, kind: Service, name: {subscriber}}}"
    lines.append(ref + (f"\n    uri: {uri}" if uri else ""))
    if delivery:
        lines.append("  delivery:\n" + textwrap.indent(textwrap.dedent(delivery).strip(), "    "))
    return "\n".join(lines)


def eventing(directory: Path, *triggers: str, broker: str = BROKER_YAML) -> EventingConfig:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "broker.yaml").write_text(broker)
    (directory / "triggers.yaml").write_text("\n---\n".join(triggers))
    return load_eventing(directory)


def ce(type_: str, id_: str, data: Any = None, **extensions: str) -> tuple[dict[str, str], bytes]:
    """A binary-mode CloudEvent (headers, body)."""
    headers = {"ce-specversion": "1.0", "ce-type": type_, "ce-id": id_, "ce-source": "/test"}
    headers |= {f"ce-{k}": v for k, v in extensions.items()}
    if data is None:
        return headers, b""
    headers["content-type"] = "application/json"
    return headers, json.dumps(data).encode()


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def ce_id(self) -> str:
        return self.headers.get("ce-id", "")

    @property
    def ce_type(self) -> str:
        return self.headers.get("ce-type", "")


Respond = Callable[[Request], tuple[int, dict[str, str], bytes]]


def accept(_: Request) -> tuple[int, dict[str, str], bytes]:
    return 202, {}, b""


class Subscriber:
    """A recording HTTP server; `respond` decides each answer (default: 202, empty body)."""

    def __init__(self, respond: Respond = accept, port: int = 0) -> None:
        self.respond = respond
        self._requests: list[Request] = []
        self._cond = threading.Condition()
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                req = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                              time.monotonic())
                with owner._cond:
                    owner._requests.append(req)
                    owner._cond.notify_all()
                status, headers, answer = owner.respond(req)
                self.reply(status, answer, headers=headers)

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        self._serving = ExitStack()
        self.url = self._serving.enter_context(serve_in_thread(server, poll_interval=0.02))

    @property
    def requests(self) -> list[Request]:
        with self._cond:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """Wait until at least `count` requests arrived; fail the test at the deadline."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"got {len(self._requests)} requests, expected {count}"
                self._cond.wait(remaining)
            return list(self._requests)

    def close(self) -> None:
        self._serving.close()


@contextmanager
def subscribers(**responders: Respond) -> Iterator[dict[str, Subscriber]]:
    subs = {name: Subscriber(fn) for name, fn in responders.items()}
    try:
        yield subs
    finally:
        for sub in subs.values():
            sub.close()


@contextmanager
def running(config: EventingConfig, db: Path, urls: dict[str, str],
            **options: Any) -> Iterator[Broker]:
    options.setdefault("time_scale", 0.01)
    broker = Broker(db_path=db, subscribers=urls, config=config, **options)
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


def post(url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    with httpx.Client(trust_env=False) as client:
        return client.post(url, headers=headers, content=body)
