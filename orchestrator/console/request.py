"""One HTTP request as the console's routers see it: framework-free, so tests and the function
edge build it the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs

from orchestrator.errors import PermanentError

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
