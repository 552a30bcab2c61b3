"""The OpenAI-compatible adapter against the fake chat completions server: the request it sends
(strict JSON-schema structured output, bearer or Azure key), what it reads back (text, usage,
finish reason), and its errors as TransientError / Throttled / PermanentError, never httpx's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from pydantic import BaseModel, Field

from orchestrator.adapters.llm import Throttled
from orchestrator.adapters.llm_openai import OpenAILLM, retry_after, strict_schema
from orchestrator.decide.gemini import Answer
from orchestrator.errors import PermanentError, TransientError
from tests.fakes.openai_chat import FakeOpenAI, Reply, fake_openai, schema_problem
from tests.fakes.serving import free_port

KEY = "sk-test-0123456789abcdef"


class Step(BaseModel):
    name: str
    value: str


class Shape(BaseModel):
    cause: str
    steps: list[Step] = Field(description="What to do.")
    first: Step = Field(description="A $ref beside a description: strict mode inlines it.")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai(key=KEY) as f:
        yield f


@pytest.fixture
def llm(fake: FakeOpenAI) -> Iterator[OpenAILLM]:
    client = OpenAILLM.connect(api_key=KEY, model="gpt-4.1-mini", base_url=fake.url + "/v1",
                               timeout_seconds=2)
    yield client
    client.close()


def ask(llm: OpenAILLM):  # type: ignore[no-untyped-def]
    return llm.generate(system="sys", prompt="why?", schema=Shape, temperature=0.1,
                        max_output_tokens=256)


ANSWER = {"cause": "OOMKilled", "steps": [{"name": "limit", "value": "raise"}],
          "first": {"name": "a", "value": "b"}}


def test_structured_answer_and_usage(llm: OpenAILLM, fake: FakeOpenAI) -> None:
    fake.script(Reply.plan(ANSWER))
    gen = ask(llm)
    assert Shape.model_validate_json(gen.text).cause == "OOMKilled"
    assert gen.model == "gpt-4.1-mini" and gen.finish_reason == "stop"
    (req,) = fake.requests
    assert gen.tokens_in == len("sys" + "why?") // 4 + 1
    assert gen.tokens_out == len(gen.text) // 4 + 1
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["messages"] == [{"role": "system", "content": "sys"},
                                    {"role": "user", "content": "why?"}]
    fmt = req.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "Shape"
    assert req.body["max_completion_tokens"] == 256 and req.body["temperature"] == 0.1
    assert KEY not in json.dumps(req.body)


def test_the_planners_schema_is_strict() -> None:
    """The real API refuses a strict schema with an open object or an optional property."""
    assert schema_problem(Answer.model_json_schema()) is not None  # as pydantic writes it
    schema = strict_schema(Answer)
    assert schema_problem(schema) is None
    assert schema["additionalProperties"] is False
    action = schema["$defs"]["AnswerAction"]
    assert action["additionalProperties"] is False
    assert set(action["required"]) == set(action["properties"])
    assert strict_schema(Shape)["properties"]["first"]["properties"]["name"]["type"] == "string"
    assert "additionalProperties" not in json.dumps(Answer.model_json_schema())  # Gemini's


def test_finish_reason_and_refusal(llm: OpenAILLM, fake: FakeOpenAI) -> None:
    fake.script(Reply.raw('{"cause": "cut', finish_reason="length"),
                Reply(refusal="I can't help with that."))
    cut = ask(llm)
    assert cut.finish_reason == "length" and cut.text == '{"cause": "cut'
    refused = ask(llm)
    assert refused.text == "" and refused.finish_reason == "refusal"


def test_a_server_that_counts_no_tokens_is_estimated(llm: OpenAILLM, fake: FakeOpenAI) -> None:
    fake.script(Reply(text=json.dumps(ANSWER), usage=False))
    gen = ask(llm)
    assert gen.tokens_in == len("sys" + "why?") // 4 + 1 and gen.tokens_out > 10


def test_azure_dated_api(fake: FakeOpenAI) -> None:
    llm = OpenAILLM.connect(api_key=KEY, model="plans",
                            base_url=fake.url + "/openai/deployments/plans/",
                            api_version="2024-10-21")
    fake.script(Reply.plan(ANSWER))
    try:
        ask(llm)
    finally:
        llm.close()
    (req,) = fake.requests
    assert req.path == "/openai/deployments/plans/chat/completions"
    assert req.query == {"api-version": ["2024-10-21"]}
    assert req.headers["api-key"] == KEY and "authorization" not in req.headers


@pytest.mark.parametrize(("status", "error", "code"), [
    (429, TransientError, 503), (500, TransientError, 503), (503, TransientError, 503),
    (408, TransientError, 503), (400, PermanentError, 400), (403, PermanentError, 403),
    (404, PermanentError, 404),
])
def test_http_errors_are_translated(llm: OpenAILLM, fake: FakeOpenAI, status: int,
                                    error: type[Exception], code: int) -> None:
    fake.script(Reply.error(status, "nope"))
    with pytest.raises(error) as e:
        ask(llm)
    assert not isinstance(e.value, Throttled)  # no Retry-After given
    assert e.value.status == code  # type: ignore[attr-defined]
    assert f"HTTP {status}" in str(e.value) and "nope" in str(e.value)


def test_bad_key_is_permanent_and_never_echoed(fake: FakeOpenAI) -> None:
    llm = OpenAILLM.connect(api_key="sk-wrong-key-42", model="m", base_url=fake.url + "/v1")
    try:
        with pytest.raises(PermanentError) as e:
            ask(llm)
    finally:
        llm.close()
    assert e.value.status == 401 and "sk-wrong-key-42" not in str(e.value)


def test_a_request_the_api_refuses_is_permanent(llm: OpenAILLM, fake: FakeOpenAI) -> None:
    class Loose(BaseModel):
        cause: str

    loose = OpenAILLM(llm.client, model="m")
    loose_schema = Loose.model_json_schema()
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "Loose", "schema": loose_schema,
                                                "strict": True}}}
    with pytest.raises(PermanentError, match="HTTP 400 invalid_request_error .*"
                       "additionalProperties"):
        loose._post(body)


@pytest.mark.parametrize(("header", "wait"), [("2", 2.0), ("0.25", 0.25)])
def test_429_with_retry_after_is_throttled(llm: OpenAILLM, fake: FakeOpenAI, header: str,
                                           wait: float) -> None:
    fake.script(Reply.error(429, "Rate limit reached", retry_after=header))
    with pytest.raises(Throttled) as e:
        ask(llm)
    assert e.value.retry_after == wait and e.value.status == 503


def test_retry_after_forms() -> None:
    assert retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert retry_after(httpx.Headers({"retry-after": "3"})) == 3.0
    date = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:05 GMT"})
    assert retry_after(date, now=1445412480.0) == 5.0
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None


def test_timeout_is_transient(fake: FakeOpenAI) -> None:
    llm = OpenAILLM.connect(api_key=KEY, model="m", base_url=fake.url + "/v1",
                            timeout_seconds=0.3)
    fake.script(Reply.hanging())
    try:
        with pytest.raises(TransientError, match="Timeout") as e:
            ask(llm)
    finally:
        llm.close()
    assert isinstance(e.value.__cause__, httpx.TimeoutException)


def test_unreachable_is_transient() -> None:
    port = free_port()
    llm = OpenAILLM.connect(api_key=KEY, model="m", base_url=f"http://127.0.0.1:{port}/v1",
                            timeout_seconds=1)
    try:
        with pytest.raises(TransientError, match="ConnectError"):
            ask(llm)
    finally:
        llm.close()


def test_a_body_that_is_no_completion_is_transient(llm: OpenAILLM) -> None:
    def proxy_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "maintenance"})

    broken = OpenAILLM(httpx.Client(base_url="http://proxy/v1/",
                                    transport=httpx.MockTransport(proxy_page)), model="m")
    with pytest.raises(TransientError, match="no chat completion"):
        ask(broken)


def test_a_base_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(PermanentError, match="http"):
        OpenAILLM.connect(api_key=KEY, model="m", base_url="file:///etc/passwd")


def test_importing_the_adapter_imports_no_http_client() -> None:
    """httpx is imported when a client is built (a key is configured), not before."""
    code = ("import sys; import orchestrator.adapters.llm_openai, orchestrator.decide.wiring; "
            "print('httpx' in sys.modules, 'openai' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert out == ["False", "False"]
