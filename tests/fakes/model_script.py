"""What the two model fakes share (`gemini.py`, `openai_chat.py`): the scripted answers, taken in
order or from a responder that sees each request, and the record of every request. Each fake
speaks its own wire format around them, so one script (or one responder, like the injection
suite's obedient model) drives either fake.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from socketserver import BaseServer
from typing import Any, TypeVar

from tests.fakes.serving import serve_in_thread

M = TypeVar("M", bound="ScriptedModel")


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    text: str = ""
    hang: bool = False
    """Hold the request until the client gives up or the fake stops."""
    finish_reason: str = "stop"
    """As OpenAI spells it; the Gemini fake sends it upper case (`STOP`, `MAX_TOKENS`)."""
    retry_after: str | None = None
    """An error's `Retry-After` header."""
    usage: bool = True
    """Whether the answer counts its tokens."""
    refusal: str | None = None
    """OpenAI's refusal message, instead of content (the Gemini API has no such field)."""

    @staticmethod
    def plan(answer: dict[str, Any]) -> Reply:
        return Reply(text=json.dumps(answer))

    @staticmethod
    def raw(text: str, finish_reason: str = "stop") -> Reply:
        return Reply(text=text, finish_reason=finish_reason)

    @staticmethod
    def error(status: int, message: str = "scripted failure",
              retry_after: str | None = None) -> Reply:
        return Reply(status=status, text=message, retry_after=retry_after)

    @staticmethod
    def hanging() -> Reply:
        return Reply(hang=True)


@dataclass
class ScriptedModel:
    """A model fake's state: every request it got, and the answers still to give."""

    url: str
    requests: list[Any] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    responder: Callable[[Any], Reply] | None = None
    """Answers each request nothing is scripted for."""
    cond: threading.Condition = field(default_factory=threading.Condition)
    release: threading.Event = field(default_factory=threading.Event)
    """Set when the fake stops: lets go of hanging requests."""

    def script(self, *replies: Reply) -> None:
        """Answer the next model requests with these, in order."""
        with self.cond:
            self.replies.extend(replies)

    def record(self, req: Any) -> None:
        with self.cond:
            self.requests.append(req)
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Any]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(f"expected {n} requests, got {len(self.requests)}")
            return list(self.requests)

    def next_reply(self, req: Any) -> Reply:
        """The next scripted answer, else the responder's, else a 500 that says so."""
        with self.cond:
            if self.replies:
                return self.replies.pop(0)
        if self.responder is not None:
            return self.responder(req)
        return Reply.error(500, "the fake has no scripted answer left")


@contextmanager
def serving(server: BaseServer, fake: M) -> Iterator[M]:
    """Serve a model fake until the block ends; requests still hanging then are let go."""
    with serve_in_thread(server):
        try:
            yield fake
        finally:
            fake.release.set()
