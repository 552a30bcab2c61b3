"""Reading Prometheus (rules, instant and range queries) and Alertmanager (active alerts).

Plain HTTP with the standard library: the router's cold start pays for every import, and four
GET endpoints need no client library. Every call has a bounded timeout and a bounded answer
size; failures are translated at this boundary: `MetricsUnavailable` (down, slow, 5xx, garbage)
and `QueryRejected` (the server refused the query: 4xx), so callers never see `urllib` errors.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import ProxyHandler, Request, build_opener

from orchestrator.errors import PermanentError, TransientError

MAX_BODY = 4 * 1024 * 1024
"""Largest answer read (bytes): a rules listing of a big installation fits; a runaway does not."""


class MetricsUnavailable(TransientError):
    """Prometheus or Alertmanager is down, slow or answered something unreadable."""


class QueryRejected(PermanentError):
    """The server refused the query (bad PromQL, bad parameters)."""


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule as `/api/v1/rules` lists it."""

    name: str
    query: str
    duration: float
    """The rule's `for:`, in seconds."""
    labels: dict[str, str] = field(default_factory=dict)
    firing: list[dict[str, str]] = field(default_factory=list)
    """Label sets of the rule's alerts now firing (pending ones excluded)."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]
    """(unix time, value), oldest first; NaN and infinities are dropped."""


class Metrics(Protocol):
    """What the router reads from Prometheus."""

    def rules(self) -> list[AlertRule]: ...

    def query(self, expr: str, *, at: float | None = None) -> list[Series]: ...

    def query_range(self, expr: str, *, start: float, end: float, step: float) -> list[Series]: ...


class Alerts(Protocol):
    """What the router reads from Alertmanager."""

    def active_fingerprints(self, alertname: str) -> set[str]: ...


class _Http:
    def __init__(self, url: str, *, timeout: float, what: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{what} URL must be http(s)://host[:port][/prefix], got {url!r}")
        self.base = url.rstrip("/")
        self.timeout = timeout
        self.what = what
        # In-cluster services are reached directly; a proxy from the environment is not wanted.
        self._opener = build_opener(ProxyHandler({}))

    def get(self, path: str, params: list[tuple[str, str]]) -> Any:
        url = f"{self.base}{path}?{urlencode(params)}"
        req = Request(url, headers={"Accept": "application/json",  # noqa: S310 (http(s) only)
                                    "User-Agent": "incident-orchestrator/router"})
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                body = resp.read(MAX_BODY + 1)
        except HTTPError as e:
            detail = _error_text(e)
            if 400 <= e.code < 500:
                raise QueryRejected(f"{self.what} refused {path}: {e.code} {detail}") from e
            raise MetricsUnavailable(f"{self.what} answered {e.code} on {path}: {detail}") from e
        except (URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise MetricsUnavailable(f"{self.what} unreachable at {self.base}: {reason}") from e
        if len(body) > MAX_BODY:
            raise MetricsUnavailable(f"{self.what} answer to {path} exceeds {MAX_BODY} bytes")
        try:
            return json.loads(body)
        except ValueError as e:
            raise MetricsUnavailable(f"{self.what} answered non-JSON on {path}") from e


def _error_text(e: HTTPError) -> str:
    try:
        raw = e.read(2048)
        doc = json.loads(raw)
        return str(doc.get("error") or doc)[:300] if isinstance(doc, dict) else str(doc)[:300]
    except (ValueError, OSError):
        return str(e.reason)[:300]


class PrometheusClient:
    """The Prometheus HTTP API v1, read-only."""

    def __init__(self, url: str, *, timeout: float = 3.0) -> None:
        self._http = _Http(url, timeout=timeout, what="Prometheus")

    @property
    def url(self) -> str:
        return self._http.base

    def _data(self, path: str, params: list[tuple[str, str]]) -> Any:
        doc = self._http.get(path, params)
        if not isinstance(doc, dict) or doc.get("status") != "success":
            error = doc.get("error") if isinstance(doc, dict) else doc
            raise MetricsUnavailable(f"Prometheus {path} failed: {str(error)[:300]}")
        return doc.get("data")

    def rules(self) -> list[AlertRule]:
        data = self._data("/api/v1/rules", [("type", "alert")])
        out = []
        for group in (data or {}).get("groups") or []:
            for r in group.get("rules") or []:
                if r.get("type") != "alerting":
                    continue
                firing = [_strs(a.get("labels")) for a in r.get("alerts") or []
                          if a.get("state") == "firing"]
                out.append(AlertRule(name=str(r.get("name", "")), query=str(r.get("query", "")),
                                     duration=float(r.get("duration") or 0),
                                     labels=_strs(r.get("labels")), firing=firing))
        return out

    def query(self, expr: str, *, at: float | None = None) -> list[Series]:
        params = [("query", expr)] + ([("time", f"{at:.3f}")] if at is not None else [])
        params.append(("timeout", f"{max(1, math.floor(self._http.timeout))}s"))
        return _series(self._data("/api/v1/query", params))

    def query_range(self, expr: str, *, start: float, end: float, step: float) -> list[Series]:
        params = [("query", expr), ("start", f"{start:.3f}"), ("end", f"{end:.3f}"),
                  ("step", f"{max(step, 0.001):.3f}"),
                  ("timeout", f"{max(1, math.floor(self._http.timeout))}s")]
        return _series(self._data("/api/v1/query_range", params))


class AlertmanagerClient:
    """Alertmanager's API v2, read-only: which alerts are active now."""

    def __init__(self, url: str, *, timeout: float = 3.0) -> None:
        self._http = _Http(url, timeout=timeout, what="Alertmanager")

    def active_fingerprints(self, alertname: str) -> set[str]:
        quoted = alertname.replace("\\", "\\\\").replace('"', '\\"')
        doc = self._http.get("/api/v2/alerts", [
            ("active", "true"), ("silenced", "true"), ("inhibited", "true"),
            ("unprocessed", "true"), ("filter", f'alertname="{quoted}"')])
        if not isinstance(doc, list):
            raise MetricsUnavailable("Alertmanager /api/v2/alerts did not answer a list")
        return {str(a.get("fingerprint")) for a in doc
                if isinstance(a, dict) and (a.get("status") or {}).get("state") != "resolved"}


def _strs(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _series(data: Any) -> list[Series]:
    if not isinstance(data, dict):
        raise MetricsUnavailable("Prometheus answered no data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        return [Series({}, _points([result]))]
    if kind not in ("vector", "matrix") or not isinstance(result, list):
        return []
    out = []
    for item in result:
        raw = item.get("values") if kind == "matrix" else [item.get("value")]
        out.append(Series(_strs(item.get("metric")), _points(raw or [])))
    return out


def _points(raw: list[Any]) -> list[tuple[float, float]]:
    points = []
    for p in raw:
        try:
            t, v = float(p[0]), float(p[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(v):
            points.append((t, v))
    return points
