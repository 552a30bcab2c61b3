"""An in-process fake of the OpenAI chat completions API, speaking its wire format: `POST
{base}/chat/completions` (`/v1/...` as OpenAI, vLLM and Ollama serve it, or Azure's
`/openai/deployments/{name}/chat/completions?api-version=...`).

It checks requests as the real API does, so a client that drifts from the format fails here
rather than in production: the bearer key (or Azure's `api-key`), known top-level fields only,
`messages` as role/content pairs, and `response_format` a `json_schema` whose strict schema has
every object closed and every property required (OpenAI refuses the request otherwise). Answers
are chat completions with `usage` and `finish_reason`; errors are OpenAI's error JSON with the
status the real API uses, a 429 or 503 optionally with `Retry-After`; `hang` holds the request
until the client times out or the server stops. Tests script answers in order (`script`) or with
a `responder` that sees each request; every request is recorded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.model_script import Reply, ScriptedModel, serving
from tests.fakes.serving import QuietHandler

_PATH = re.compile(r"^(/v1|/openai/v1|/openai/deployments/([^/]+))/chat/completions$")
_FIELDS = {"model", "messages", "response_format", "temperature", "max_completion_tokens",
           "max_tokens", "n", "stream", "top_p", "seed", "stop", "user"}
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_denied",
          404: "not_found_error", 429: "rate_limit_exceeded", 500: "server_error",
          503: "service_unavailable"}


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = 0.0
    """time.monotonic() when it arrived."""

    def _content(self, role: str) -> str:
        return "".join(str(m.get("content") or "") for m in self.body.get("messages", [])
                       if isinstance(m, dict) and m.get("role") == role)

    @property
    def system(self) -> str:
        return self._content("system")

    @property
    def prompt(self) -> str:
        return self._content("user")

    @property
    def schema(self) -> dict[str, Any]:
        return dict(self.body["response_format"]["json_schema"]["schema"])


@dataclass
class FakeOpenAI(ScriptedModel):
    key: str | None = None
    """The key requests must carry (bearer, or Azure's `api-key`); None accepts any."""

    def generate_requests(self) -> list[Request]:
        with self.cond:
            return list(self.requests)


def schema_problem(schema: Any, where: str = "()") -> str | None:
    """Why strict structured output would refuse this schema, or None."""
    if isinstance(schema, list):
        for item in schema:
            if (found := schema_problem(item, where)) is not None:
                return found
        return None
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object":
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return (f"In context={where}, 'additionalProperties' is required to be supplied "
                    "and to be false.")
        if sorted(schema.get("required", [])) != sorted(props):
            return (f"In context={where}, 'required' is required to be supplied and to be an "
                    "array including every key in properties.")
    if "default" in schema:
        return f"In context={where}, 'default' is not permitted."
    if "$ref" in schema and len(schema) > 1:
        return f"In context={where}, $ref cannot have keywords {sorted(set(schema) - {'$ref'})}."
    for key, value in schema.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            for name, sub in value.items():
                if (found := schema_problem(sub, f"{where}, {key}, {name}")) is not None:
                    return found
        elif isinstance(value, (dict, list)) and (
                found := schema_problem(value, f"{where}, {key}")) is not None:
            return found
    return None


def _invalid(body: Any) -> str | None:
    """What the real API would answer 400 for, or None."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        return f"Unrecognized request argument supplied: {unknown[0]}"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and m.get("role") in ("system", "developer", "user", "assistant")
            and isinstance(m.get("content"), str) for m in messages):
        return "Invalid 'messages': expected an array of {role, content} objects."
    fmt = body.get("response_format")
    if fmt is not None:
        spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
        if not isinstance(spec, dict) or fmt.get("type") != "json_schema":
            return "Invalid 'response_format': expected type json_schema with a json_schema."
        if not _NAME.match(str(spec.get("name", ""))):
            return "Invalid 'response_format.json_schema.name'."
        if spec.get("strict") is True:
            problem = schema_problem(spec.get("schema"))
            if problem is not None:
                return f"Invalid schema for response_format '{spec['name']}': {problem}"
    return None


@contextmanager
def fake_openai(key: str | None = None) -> Iterator[FakeOpenAI]:
    fake: FakeOpenAI

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            parts = urlsplit(self.path)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            req = Request(parts.path, parse_qs(parts.query),
                          {k.lower(): v for k, v in self.headers.items()},
                          body if isinstance(body, dict) else {}, time.monotonic())
            fake.record(req)
            m = _PATH.match(parts.path)
            if not m:
                return self._error(404, f"Invalid URL (POST {parts.path})")
            if fake.key is not None:
                given = req.headers.get("api-key") if m.group(2) else \
                    req.headers.get("authorization", "").removeprefix("Bearer ")
                if given != fake.key:
                    return self._error(401, "Incorrect API key provided.")
            if m.group(2) and "api-version" not in req.query:
                return self._error(404, "Resource not found")
            if (problem := _invalid(body)) is not None:
                return self._error(400, problem)
            reply = fake.next_reply(req)
            if reply.hang:
                fake.release.wait(60)
                self.close_connection = True
                return None
            if reply.status != 200:
                return self._error(reply.status, reply.text, reply.retry_after)
            return self.reply_json(200, _completion(req, reply))

        def _error(self, status: int, message: str, retry_after: str | None = None) -> None:
            kind = _TYPES.get(status, "api_error")
            error = {"message": message, "type": kind, "param": None,
                     "code": kind if status == 429 else None}
            self.reply_json(status, {"error": error},
                            {"retry-after": retry_after} if retry_after is not None else {})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeOpenAI(url=f"http://127.0.0.1:{server.server_address[1]}", key=key)
    with serving(server, fake):
        yield fake


def _completion(req: Request, reply: Reply) -> dict[str, Any]:
    text = reply.text
    finish = reply.finish_reason.lower()
    refusal = reply.refusal
    out: dict[str, Any] = {
        "id": f"chatcmpl-{len(text):08x}", "object": "chat.completion", "created": int(time.time()),
        "model": req.body["model"], "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "logprobs": None, "finish_reason": finish,
                     "message": {"role": "assistant", "content": None if refusal else text,
                                 "refusal": refusal}}],
    }
    if reply.usage:
        prompt = len(req.system + req.prompt) // 4 + 1
        done = len(text) // 4 + 1
        out["usage"] = {"prompt_tokens": prompt, "completion_tokens": done,
                        "total_tokens": prompt + done}
    return out


__all__ = ["FakeOpenAI", "Reply", "Request", "fake_openai", "schema_problem"]
