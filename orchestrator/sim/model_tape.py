"""Recorded model answers: score the model path again without a network or a key.

`orchestrator eval --model gemini --record FILE` puts a recording proxy between the agent and
the Gemini API: every `generateContent` request goes on to the real API unchanged and the API's
raw answer (status and JSON body, never a request header, so never the key) is kept under the
scenario being run. `--model replay --recording FILE` starts the same server in replay mode:
the agent's real Gemini adapter talks to it as to Google, over the same wire format, and gets
the recorded answers back in order. So what CI scores is the model's own answers going through
the whole agent path (parsing, validation, citations, policy, the executor), not a stand-in.

A scenario with no answer left gets Google's 400 error: the agent then plans as it would on a
broken model (offline fallback or escalation), which the score shows rather than hides.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

FORMAT = "orchestrator-model-recording/1"
GOOGLE = "https://generativelanguage.googleapis.com"
_GENERATE = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^:/]+):generateContent$")
# What the client may send on to Google: its key and the body's type. Nothing else is needed,
# and nothing of the request is ever written to the recording.
_FORWARD = ("x-goog-api-key", "content-type", "x-goog-api-client", "user-agent")
_MAX_BODY = 4 << 20


class RecordingError(ValueError):
    """The recording file is missing, unreadable or not a model recording."""


@dataclass
class Recording:
    """Raw model answers per scenario, in the order the agent asked for them."""

    note: str
    model: str = ""
    recorded: str = ""
    scenarios: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "note": self.note, "model": self.model,
                           "recorded": self.recorded, "scenarios": self.scenarios},
                          indent=1, sort_keys=True) + "\n"

    @classmethod
    def load(cls, path: Path) -> Recording:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise RecordingError(f"cannot read the model recording {path}: {e}") from e
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise RecordingError(f"{path} is not a model recording (format {FORMAT!r})")
        scenarios = doc.get("scenarios")
        if not isinstance(scenarios, dict) or not all(
                isinstance(v, list) and all(isinstance(a, dict) and isinstance(a.get("status"), int)
                                            and isinstance(a.get("body"), dict) for a in v)
                for v in scenarios.values()):
            raise RecordingError(f"{path} is not a model recording: `scenarios` must map names to "
                                 "lists of answers ({status, body})")
        return cls(note=str(doc.get("note", "")), model=str(doc.get("model", "")),
                   recorded=str(doc.get("recorded", "")), scenarios=scenarios)


class ModelTape:
    """A local Gemini endpoint that records (forwarding to `upstream`) or replays answers.

    Set `scenario` before each scenario runs: answers are filed and served under it.
    """

    def __init__(self, *, recording: Recording | None = None, upstream: str | None = None,
                 note: str = "") -> None:
        if (recording is None) == (upstream is None):
            raise ValueError("a tape either replays a recording or records from an upstream")
        self.upstream = upstream.rstrip("/") if upstream else None
        self.recording = recording or Recording(note=note)
        self.scenario = ""
        self.served: dict[str, int] = {}
        self.missing: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ModelTape:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def answer(self, path: str, query: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, Any]]:
        """The answer to one generateContent request (recorded or replayed)."""
        m = _GENERATE.match(path)
        if m is None:
            return 404, _error(404, f"the model recording serves generateContent only, not {path}")
        with self._lock:
            scenario = self.scenario
        if self.upstream is None:
            return self._replay(scenario)
        status, answer = self._forward(path, query, headers, body)
        with self._lock:
            self.recording.model = self.recording.model or m.group(2)
            self.recording.scenarios.setdefault(scenario, []).append(
                {"status": status, "body": answer})
        return status, answer

    def _replay(self, scenario: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            answers = self.recording.scenarios.get(scenario, [])
            n = self.served.get(scenario, 0)
            if n >= len(answers):
                self.missing[scenario] = self.missing.get(scenario, 0) + 1
                return 400, _error(400, f"no recorded model answer left for scenario "
                                        f"{scenario!r} (it has {len(answers)})")
            self.served[scenario] = n + 1
            return int(answers[n]["status"]), answers[n]["body"]

    def _forward(self, path: str, query: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, dict[str, Any]]:
        sent = {k: v for k, v in headers.items() if k in _FORWARD}
        url = f"{self.upstream}{path}" + (f"?{query}" if query else "")
        try:
            r = httpx.post(url, content=body, headers=sent, timeout=120)
        except httpx.HTTPError as e:
            return 503, _error(503, f"the model API is unreachable: {type(e).__name__}")
        try:
            answer = r.json()
        except ValueError:
            answer = _error(r.status_code, r.text[:500])
        if not isinstance(answer, dict):
            answer = _error(502, "the model API answered JSON that is not an object")
        return r.status_code, answer

    def save(self, path: Path) -> None:
        self.recording.recorded = self.recording.recorded or datetime.now(UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        path.write_text(self.recording.to_json())


def _handler(tape: ModelTape) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            size = int(self.headers.get("content-length") or 0)
            if size > _MAX_BODY:
                self.close_connection = True
                return self._send(413, _error(413, "request body too large"))
            body = self.rfile.read(size)
            path, _, query = self.path.partition("?")
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = tape.answer(path, query, headers, body)
            return self._send(status, answer)

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=UTF-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 413: "INVALID_ARGUMENT",
           502: "INTERNAL", 503: "UNAVAILABLE"}


def _error(status: int, message: str) -> dict[str, Any]:
    """Google's error body, as the client parses it."""
    return {"error": {"code": status, "message": message,
                      "status": _STATUS.get(status, "UNKNOWN")}}
