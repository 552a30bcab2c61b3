"""An in-process fake of the Gemini API speaking its real wire protocol, for the real google-genai
client: `POST /{v1,v1beta}/models/{model}:generateContent` and `:batchEmbedContents`.

Tests script what it answers, in order (`fake.script(...)`), or with a `responder` function that
sees each request (e.g. a model that obeys whatever the prompt says); every request is recorded
so tests can assert what the prompt carried. Errors come back as Google's error JSON with the
status the real API uses (429 RESOURCE_EXHAUSTED, 500 INTERNAL); `hang()` holds the request
until the client times out or the server stops. The script and the record are
`model_script.py`'s, shared with the OpenAI-compatible fake.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakes.model_script import Reply, ScriptedModel, serving
from tests.fakes.serving import QuietHandler

_PATH = re.compile(r"^/(v1|v1beta)/models/([^:/]+):(generateContent|batchEmbedContents)$")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str:
        m = _PATH.match(self.path)
        return m.group(2) if m else ""

    @property
    def system(self) -> str:
        parts = (self.body.get("systemInstruction") or {}).get("parts") or []
        return "".join(p.get("text", "") for p in parts)

    @property
    def prompt(self) -> str:
        return "".join(p.get("text", "") for c in self.body.get("contents", [])
                       for p in c.get("parts", []))

    @property
    def raw(self) -> str:
        return json.dumps(self.body) + json.dumps(self.headers)


@dataclass
class FakeGemini(ScriptedModel):
    embed_failures: list[int] = field(default_factory=list)
    """Statuses the next batchEmbedContents requests fail with, in order."""

    def generate_requests(self) -> list[Request]:
        with self.cond:
            return [r for r in self.requests if r.path.endswith(":generateContent")]


def embedding(text: str, dims: int) -> list[float]:
    """A deterministic unit vector per text (hashed word counts): similar texts, close vectors."""
    vec = [0.0] * dims
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
        vec[h % dims] += 1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def _usage(req: Request, text: str) -> dict[str, int]:
    prompt = len(req.system + req.prompt) // 4 + 1
    out = len(text) // 4 + 1
    return {"promptTokenCount": prompt, "candidatesTokenCount": out,
            "totalTokenCount": prompt + out}


@contextmanager
def fake_gemini() -> Iterator[FakeGemini]:
    fake: FakeGemini

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            req = Request(self.path, {k.lower(): v for k, v in self.headers.items()},
                          json.loads(raw or b"{}"))
            fake.record(req)
            m = _PATH.match(self.path.split("?")[0])
            if not m:
                return self.reply_json(404, _error(404, f"no route {self.path}"))
            if m.group(3) == "batchEmbedContents":
                with fake.cond:
                    failure = fake.embed_failures.pop(0) if fake.embed_failures else None
                if failure is not None:
                    return self.reply_json(failure, _error(failure, "scripted failure"))
                return self.reply_json(200, {"embeddings": [
                    {"values": embedding(
                        "".join(p.get("text", "") for p in r["content"]["parts"]),
                        int(r.get("outputDimensionality") or 8))}
                    for r in req.body.get("requests", [])]})
            reply = fake.next_reply(req)
            if reply.hang:
                fake.release.wait(60)
                self.close_connection = True
                return None
            if reply.status != 200:
                return self.reply_json(reply.status, _error(reply.status, reply.text),
                                       {"retry-after": reply.retry_after}
                                       if reply.retry_after is not None else None)
            answer: dict[str, Any] = {
                "candidates": [{"content": {"role": "model", "parts": [{"text": reply.text}]},
                                "finishReason": reply.finish_reason.upper(), "index": 0}],
                "modelVersion": m.group(2),
            }
            if reply.usage:
                answer["usageMetadata"] = _usage(req, reply.text)
            return self.reply_json(200, answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeGemini(url=f"http://127.0.0.1:{server.server_address[1]}")
    with serving(server, fake):
        yield fake


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message,
                      "status": _STATUS.get(status, "UNKNOWN")}}


__all__ = ["FakeGemini", "Reply", "Request", "embedding", "fake_gemini"]
