"""The Gemini adapter: the real google-genai client against the fake Gemini server; its errors
(and the httpx transport's) come out as TransientError / PermanentError, never as vendor types."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from orchestrator.adapters.embeddings import GeminiEmbedder
from orchestrator.adapters.llm import GeminiLLM
from orchestrator.errors import OrchestratorError, PermanentError, TransientError
from tests.fakes.gemini import FakeGemini, Reply, fake_gemini
from tests.fakes.serving import free_port


class Shape(BaseModel):
    cause: str
    steps: list[str]


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with fake_gemini() as f:
        yield f


@pytest.fixture
def llm(fake: FakeGemini) -> Iterator[GeminiLLM]:
    client = GeminiLLM.connect(api_key="k-test", model="gemini-2.5-flash", base_url=fake.url,
                               timeout_seconds=2)
    yield client
    client.close()


def ask(llm: GeminiLLM):  # type: ignore[no-untyped-def]
    return llm.generate(system="sys", prompt="why?", schema=Shape, temperature=0.1,
                        max_output_tokens=256)


def test_structured_answer_and_usage(llm: GeminiLLM, fake: FakeGemini) -> None:
    fake.script(Reply.plan({"cause": "OOMKilled", "steps": ["raise the limit"]}))
    gen = ask(llm)
    assert Shape.model_validate_json(gen.text).cause == "OOMKilled"
    assert gen.tokens_in > 0 and gen.tokens_out > 0 and gen.model == "gemini-2.5-flash"
    (req,) = fake.requests
    assert req.path == "/v1/models/gemini-2.5-flash:generateContent"
    assert req.headers["x-goog-api-key"] == "k-test"
    cfg = req.body["generationConfig"]
    assert cfg["responseMimeType"] == "application/json"
    assert cfg["maxOutputTokens"] == 256
    assert "additionalProperties" not in json.dumps(cfg["responseSchema"])
    assert req.system == "sys" and req.prompt == "why?"


def test_api_version_from_settings(fake: FakeGemini) -> None:
    llm = GeminiLLM.connect(api_key="k", model="m1", base_url=fake.url, api_version="v1beta")
    fake.script(Reply.plan({"cause": "x", "steps": []}))
    try:
        ask(llm)
    finally:
        llm.close()
    assert fake.requests[0].path == "/v1beta/models/m1:generateContent"


@pytest.mark.parametrize(("status", "error", "code"), [
    (429, TransientError, 503), (500, TransientError, 503), (503, TransientError, 503),
    (400, PermanentError, 400), (401, PermanentError, 401), (403, PermanentError, 403),
])
def test_http_errors_are_translated(llm: GeminiLLM, fake: FakeGemini, status: int,
                                    error: type[Exception], code: int) -> None:
    fake.script(Reply.error(status, "nope"))
    with pytest.raises(error) as e:
        ask(llm)
    assert e.value.status == code  # type: ignore[attr-defined]
    assert f"HTTP {status}" in str(e.value)
    assert type(e.value.__cause__).__module__.startswith("google.genai")


def test_timeout_is_transient(fake: FakeGemini) -> None:
    llm = GeminiLLM.connect(api_key="k", model="m", base_url=fake.url, timeout_seconds=0.3)
    fake.script(Reply.hanging())
    try:
        with pytest.raises(TransientError, match="Timeout"):
            ask(llm)
    finally:
        llm.close()


def test_unreachable_is_transient() -> None:
    port = free_port()
    llm = GeminiLLM.connect(api_key="k", model="m", base_url=f"http://127.0.0.1:{port}",
                            timeout_seconds=1)
    try:
        with pytest.raises(TransientError, match="ConnectError"):
            ask(llm)
    finally:
        llm.close()


def test_embeddings(fake: FakeGemini) -> None:
    embedder = GeminiEmbedder.connect(api_key="k-test", model="gemini-embedding-001",
                                      dimensions=16, base_url=fake.url)
    vectors = embedder.embed(["pod crash looping", "node not ready"], task="query")
    assert [len(v) for v in vectors] == [16, 16]
    assert fake.requests[0].path.endswith("/models/gemini-embedding-001:batchEmbedContents")


@pytest.mark.parametrize("status", [408, 429, 500, 503, 400, 401, 403, 404])
def test_generation_and_embeddings_agree_on_what_is_retryable(
        llm: GeminiLLM, fake: FakeGemini, status: int) -> None:
    """One translator for the SDK: a 408, a 429 or a 5xx is worth retrying, another 4xx is not,
    whether the call was a generation or an embedding."""
    embedder = GeminiEmbedder.connect(api_key="k-test", model="gemini-embedding-001",
                                      dimensions=16, base_url=fake.url)
    fake.script(Reply.error(status, "nope"))
    fake.embed_failures.append(status)
    with pytest.raises(OrchestratorError) as generating:
        ask(llm)
    with pytest.raises(OrchestratorError) as embedding:
        embedder.embed(["pod crash looping"], task="query")
    expected = TransientError if status in (408, 429) or status >= 500 else PermanentError
    for e in (generating.value, embedding.value):
        assert type(e) is expected and f"HTTP {status}" in str(e)
        assert e.status == (503 if expected is TransientError else status)
        assert type(e.__cause__).__module__.startswith("google.genai")


def test_an_unreachable_embedding_service_is_transient() -> None:
    port = free_port()
    embedder = GeminiEmbedder.connect(api_key="k", model="gemini-embedding-001", dimensions=16,
                                      base_url=f"http://127.0.0.1:{port}", timeout=1)
    with pytest.raises(TransientError, match="ConnectError"):
        embedder.embed(["pod"], task="query")
