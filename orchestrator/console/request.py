"""One HTTP request as the console's routers see it: framework-free, so tests and the function
edge build it the same way; and the routers' tables (`Routes`), werkzeug's URL rules (the router
under Flask, so already loaded when the console starts) with the handlers as their endpoints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from werkzeug.routing import BaseConverter, Map, Rule

from orchestrator.errors import PermanentError

if TYPE_CHECKING:
    from orchestrator.console.identity import Identity
    from orchestrator.console.service import Console

MAX_FORM_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    """Lowercase names (`cloudevent_http.lower_headers`, where the request entered)."""
    body: bytes = b""
    query: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form(self) -> dict[str, str]:
        """An `application/x-www-form-urlencoded` body (first value of each field)."""
        if len(self.body) > MAX_FORM_BYTES:
            raise PermanentError("form too large", status=413)
        try:
            parsed = parse_qs(self.body.decode(), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError) as e:
            raise PermanentError("malformed form") from e
        return {k: v[0] for k, v in parsed.items()}


@dataclass(frozen=True)
class Visit:
    """One authenticated request, as a route's handler sees it."""

    console: Console
    req: Request
    who: Identity


@dataclass(frozen=True)
class Page(Visit):
    """A visit to a web page: what its template is given (the user, the CSRF token, the
    statuses) and, for a POST, the form whose CSRF token was checked."""

    ctx: dict[str, Any]
    form: dict[str, str]


class _Key(BaseConverter):
    """An incident key or a plan id: path- and header-safe by construction."""

    regex = r"[A-Za-z0-9._-]+"


class _Letter(BaseConverter):
    """A dead letter's id (lowercase hex-like)."""

    regex = r"[a-z0-9]+"


def rule(path: str, handler: Callable[..., Any], *methods: str) -> Rule:
    """`path` (`<key:...>` and `<letter:...>` name the console's ids) served by `handler`."""
    return Rule(path, endpoint=handler, methods=list(methods))


class Routes:
    """A router's table: which handler serves a method and path, and with what arguments."""

    def __init__(self, *rules: Rule) -> None:
        self._map = Map(list(rules), converters={"key": _Key, "letter": _Letter},
                        strict_slashes=False, merge_slashes=False, redirect_defaults=False)

    def match(self, method: str, path: str) -> tuple[Callable[..., Any], dict[str, Any]] | None:
        """The handler and its path arguments, or None: no such path, or not with `method`."""
        from werkzeug.exceptions import HTTPException

        try:
            handler, args = self._map.bind("console").match(path, method)
        except HTTPException:  # NotFound, MethodNotAllowed
            return None
        return handler, dict(args)
