"""Wire types of the simulated kube-apiserver, shared by routing, logs, watch and the HTTP layer."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import JSON, ApiError
from .resources import ResourceType


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    query_list: list[tuple[str, str]]
    content_type: str | None
    body: Any


@dataclass
class Response:
    code: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    matches: Callable[[JSON], bool]
    resource_version: str | None
    timeout: float
    bookmarks: bool = False  # ?allowWatchBookmarks=true


def json_response(code: int, obj: Any) -> Response:
    return Response(code, json.dumps(obj, separators=(",", ":")).encode())


def error_response(err: ApiError) -> Response:
    headers = {}
    retry = (err.details or {}).get("retryAfterSeconds")
    if retry:
        headers["Retry-After"] = str(retry)
    return Response(err.code, json.dumps(err.status()).encode(), headers=headers)


def not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource", {})


def success_status(code: int = 200, details: JSON | None = None) -> JSON:
    out: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details is not None:
        out["details"] = details
    if code != 200:
        out["code"] = code
    return out


def truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")
