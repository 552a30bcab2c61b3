"""The LLM port the planner depends on, and Gemini through google-genai behind it.

(The OpenAI chat completions API is the port's other adapter: `orchestrator.adapters.llm_openai`.)

google-genai takes about a second to import, so it is imported only when a client is built, and
a client is built only when an API key is configured: the offline path never loads it. Its errors
(and those of the httpx transport under it) are translated by `genai_errors`, as the embeddings
adapter's are: a 408, a 429, a 5xx, a timeout or a refused connection is a TransientError; any
other 4xx (a bad key, a rejected schema) is a PermanentError, so the planner can tell "wait and
retry" from "give up on the LLM".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from orchestrator.adapters.genai_errors import translated
from orchestrator.errors import TransientError

if TYPE_CHECKING:
    from google.genai import Client


@dataclass(frozen=True)
class Generation:
    """One answer: its text (JSON when a schema was given) and what it cost."""

    text: str
    tokens_in: int
    tokens_out: int
    model: str
    finish_reason: str = ""


class Throttled(TransientError):
    """A 429 or 503 that said when to come back (`Retry-After`): no retry before `retry_after`
    seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLM(Protocol):
    """What the planner needs from a language model."""

    name: str
    """What logs and fallback notes call it: "Gemini", "OpenAI-compatible model"."""
    model: str

    def generate(self, *, system: str, prompt: str, schema: type[BaseModel],
                 temperature: float, max_output_tokens: int) -> Generation:
        """One structured answer to `prompt`, shaped by `schema` (a flat pydantic model)."""

    def close(self) -> None:
        """Release connections."""


class GeminiLLM:
    """Gemini's `generateContent` through a google-genai client (embeddings: `embeddings.py`)."""

    name = "Gemini"

    def __init__(self, client: Client, *, model: str) -> None:
        self.client = client
        self.model = model

    @classmethod
    def connect(cls, *, api_key: str, model: str, base_url: str | None = None,
                api_version: str | None = None, timeout_seconds: float = 30.0) -> GeminiLLM:
        from google import genai
        from google.genai import types

        options: dict[str, Any] = {"timeout": int(timeout_seconds * 1000)}
        if base_url:
            options["base_url"] = base_url
        if api_version:
            options["api_version"] = api_version
        client = genai.Client(api_key=api_key, http_options=types.HttpOptions(**options))
        return cls(client, model=model)

    def generate(self, *, system: str, prompt: str, schema: type[BaseModel],
                 temperature: float, max_output_tokens: int) -> Generation:
        from google.genai import types

        config = types.GenerateContentConfig(
            system_instruction=system,
            response_mime_type="application/json",
            response_schema=schema,
            temperature=temperature,
            max_output_tokens=max_output_tokens,
        )
        with translated(f"Gemini {self.model}"):
            resp = self.client.models.generate_content(
                model=self.model, contents=prompt, config=config
            )
        usage = resp.usage_metadata
        tokens_in = (usage.prompt_token_count or 0) if usage else 0
        tokens_out = ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
                      if usage else 0)
        finish = ""
        if resp.candidates and resp.candidates[0].finish_reason is not None:
            finish = str(resp.candidates[0].finish_reason.value)
        # `.text` is None when the answer was blocked or empty; the planner treats "" as invalid.
        return Generation(text=resp.text or "", tokens_in=tokens_in, tokens_out=tokens_out,
                          model=resp.model_version or self.model, finish_reason=finish)

    def close(self) -> None:
        self.client.close()
