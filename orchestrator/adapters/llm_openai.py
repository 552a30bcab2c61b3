"""The LLM through the OpenAI chat completions API: OpenAI itself, Azure OpenAI, vLLM, Ollama and
the other servers that speak it, behind the same `LLM` port as Gemini.

Spoken with httpx against the documented wire format (`POST {base}/chat/completions`), not
through the official `openai` client: that client takes 1.3-1.7 s to import on this project's
machines, more than google-genai, all of it added to the cold start of a scale-to-zero agent for
one POST and one JSON answer. httpx is imported only when a client is built, and a client is
built only when a key is configured.

Structured output is `response_format: {type: json_schema, json_schema: {name, schema, strict:
true}}` with the planner's own flat pydantic schema. Strict mode wants every object closed
(`additionalProperties: false`) and every property required; `strict_schema` adds both here,
because Gemini rejects `additionalProperties` and the planner's model must not carry it.

Errors are translated at this boundary, as for Gemini: 408, 429, 5xx, a timeout, a refused
connection or a body that is no chat completion is a TransientError (a 429 or 503 that says
`Retry-After` is a `Throttled` carrying the wait); any other 4xx (a bad key, an unknown model, a
schema the server refuses) is a PermanentError. The key never appears in an error message.
"""

from __future__ import annotations

import copy
import email.utils
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orchestrator.adapters.llm import Generation, Throttled
from orchestrator.errors import PermanentError, TransientError, retryable

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"


class OpenAILLM:
    """`chat.completions` of an OpenAI-compatible server through an httpx client."""

    name = "OpenAI-compatible model"

    def __init__(self, client: httpx.Client, *, model: str, secret: str = "") -> None:
        self.client = client
        self.model = model
        self._secret = secret

    @classmethod
    def connect(cls, *, api_key: str, model: str, base_url: str | None = None,
                api_version: str | None = None, timeout_seconds: float = 30.0) -> OpenAILLM:
        """A client for `base_url` (OpenAI's when None). `api_version`: Azure's dated API,
        whose key goes in the `api-key` header and whose version is a query parameter."""
        import httpx

        base = (base_url or OPENAI_URL).rstrip("/") + "/"
        if httpx.URL(base).scheme not in ("http", "https"):
            raise PermanentError(f"the OpenAI base URL must be http(s), not {base_url!r}")
        headers = {"api-key": api_key} if api_version else {"authorization": f"Bearer {api_key}"}
        params = {"api-version": api_version} if api_version else {}
        client = httpx.Client(base_url=base, headers=headers, params=params,
                              timeout=httpx.Timeout(timeout_seconds))
        return cls(client, model=model, secret=api_key)

    def generate(self, *, system: str, prompt: str, schema: type[BaseModel],
                 temperature: float, max_output_tokens: int) -> Generation:
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": prompt}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": schema.__name__, "schema": strict_schema(schema), "strict": True}},
            "temperature": temperature,
            # OpenAI's current name for the cap; reasoning models refuse the older `max_tokens`.
            "max_completion_tokens": max_output_tokens,
        }
        data = self._post(body)
        try:
            choice = data["choices"][0]
            message = choice["message"]
            text = message.get("content") or ""
            finish = str(choice.get("finish_reason") or "")
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise TransientError(f"{self._what()}: the answer is no chat completion "
                                 f"({type(e).__name__}: {e})") from e
        if message.get("refusal"):
            finish = "refusal"  # strict mode's way of saying no; "" is treated as invalid
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        if usage and isinstance(usage.get("prompt_tokens"), int):
            tokens_in = usage["prompt_tokens"]
            tokens_out = int(usage.get("completion_tokens") or 0)
        else:
            # A server that does not count still costs: estimate, so the budgets hold.
            tokens_in, tokens_out = len(system + prompt) // 4 + 1, len(text) // 4 + 1
        return Generation(text=text, tokens_in=tokens_in, tokens_out=tokens_out,
                          model=str(data.get("model") or self.model), finish_reason=finish)

    def close(self) -> None:
        self.client.close()

    def _what(self) -> str:
        return f"{self.name} {self.model}"

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            resp = self.client.post("chat/completions", json=body)
        except httpx.HTTPError as e:
            raise TransientError(f"{self._what()}: {type(e).__name__}: "
                                 f"{self._hide(str(e))}") from e
        if resp.status_code >= 400:
            raise self._error(resp)
        try:
            data = resp.json()
        except ValueError as e:
            raise TransientError(f"{self._what()}: HTTP {resp.status_code} answer is not "
                                 "JSON") from e
        if not isinstance(data, dict):
            raise TransientError(f"{self._what()}: the answer is no chat completion")
        return data

    def _error(self, resp: httpx.Response) -> TransientError | PermanentError:
        code = resp.status_code
        detail = f"{self._what()}: HTTP {code} {self._hide(_message(resp))[:300]}".strip()
        if retryable(code):
            wait = retry_after(resp.headers) if code in (429, 503) else None
            if wait is not None:
                return Throttled(f"{detail} (retry after {wait:g}s)", retry_after=wait)
            return TransientError(detail, status=503)
        return PermanentError(detail, status=code)

    def _hide(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


def _message(resp: httpx.Response) -> str:
    """The error's message from OpenAI's `{"error": {"message", "type", "code"}}` body, or the
    start of whatever else the server (a proxy, a gateway) answered."""
    try:
        err = resp.json().get("error")
    except (ValueError, AttributeError):
        return resp.text[:300]
    if isinstance(err, dict):
        kind = err.get("type") or err.get("code") or ""
        return f"{kind} {err.get('message') or ''}".strip()
    return str(err or "")[:300]


def retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds the server asked to wait: `retry-after-ms` (OpenAI's), else `Retry-After` as
    seconds or as an HTTP date. None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(when.timestamp() - current, 0.0)


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema as strict structured output requires it: every object closed
    and all its properties required, no defaults."""
    schema = copy.deepcopy(model.model_json_schema())
    _close(schema, schema.get("$defs", {}))
    return schema


def _close(node: Any, defs: dict[str, Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _close(item, defs)
        return
    if not isinstance(node, dict):
        return
    node.pop("default", None)
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1 and ref.startswith("#/$defs/"):
        # Strict mode refuses a $ref beside other keywords (a field's description): inline it.
        del node["$ref"]
        node.update({k: v for k, v in copy.deepcopy(defs[ref.rsplit("/", 1)[-1]]).items()
                     if k not in node})
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties") or {}
        node["additionalProperties"] = False
        node["required"] = list(props)
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for sub in value.values():  # keys here are names, not keywords
                _close(sub, defs)
        else:
            _close(value, defs)
