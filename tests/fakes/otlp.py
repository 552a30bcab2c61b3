"""An OTLP/HTTP receiver: what a collector is to the functions, decoding the real protobuf wire
format (`opentelemetry-proto`) of `/v1/traces` and `/v1/metrics` export requests.

Tests read the spans and metric points it received and wait on them with a deadline.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakes.serving import QuietHandler, serve_in_thread


@dataclass(frozen=True)
class Span:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    attributes: dict[str, Any]
    status_code: int
    events: tuple[str, ...]


@dataclass
class Receiver:
    url: str
    spans: list[Span] = field(default_factory=list)
    metrics: dict[str, list[tuple[dict[str, Any], float]]] = field(default_factory=dict)
    requests: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, until: Callable[[Receiver], bool], timeout: float = 30.0) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: until(self), timeout):
                names = sorted({(s.service, s.name) for s in self.spans})
                raise AssertionError(f"the receiver never saw what was awaited; spans: {names}")

    def services(self, trace_id: str) -> set[str]:
        with self.cond:
            return {s.service for s in self.spans if s.trace_id == trace_id}


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def _spans(body: bytes) -> list[Span]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    req = ExportTraceServiceRequest.FromString(body)
    out = []
    for rs in req.resource_spans:
        service = str(_attrs(rs.resource.attributes).get("service.name", ""))
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(Span(service, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                                s.name, s.kind, _attrs(s.attributes), s.status.code,
                                tuple(e.name for e in s.events)))
    return out


def _points(body: bytes) -> dict[str, list[tuple[dict[str, Any], float]]]:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    req = ExportMetricsServiceRequest.FromString(body)
    out: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                for p in getattr(m, kind).data_points:
                    value = p.sum if kind == "histogram" else (p.as_int or p.as_double)
                    out.setdefault(m.name, []).append((_attrs(p.attributes), float(value)))
    return out


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    receiver: Receiver

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            if self.headers.get("content-type") != "application/x-protobuf":
                self._answer(415)
                return
            with receiver.cond:
                receiver.requests += 1
                if self.path == "/v1/traces":
                    receiver.spans.extend(_spans(body))
                elif self.path == "/v1/metrics":
                    for name, points in _points(body).items():
                        receiver.metrics.setdefault(name, []).extend(points)
                else:
                    self._answer(404)
                    return
                receiver.cond.notify_all()
            self._answer(200)

        def _answer(self, status: int) -> None:
            # An empty Export*ServiceResponse is zero bytes of protobuf: full success.
            self.reply(status, content_type="application/x-protobuf")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    with serve_in_thread(server):
        yield receiver
