"""Every function bounds what one request can cost: bodies over the limit get 413 before they are
read whole, JSON nested deeper than 400 levels gets 400 before anything parses it (not a
RecursionError's 500, which a sender retries forever), and ingest authenticates first."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import functions_framework
import httpx
import pytest

from orchestrator import limits
from orchestrator.events import ALERT_RECEIVED, CONTEXT_ENRICHED, PLAN_PROPOSED
from tests.conftest import load_event
from tests.fakes.serving import free_port, wait_until
from tests.fakes.sink import Sink
from tests.functional.console_support import AUTH as CONSOLE_AUTH
from tests.functional.console_support import console_app, console_env

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "limits-ingest-token"
INGEST_AUTH = {"Authorization": f"Bearer {TOKEN}"}
MIB = 1024 * 1024
DEEP = b"[" * 100_000 + b"]" * 100_000
SERVICES = {"router": "orchestrator.orient.service", "agent": "orchestrator.decide.service",
            "executor": "orchestrator.act.service"}
STAGE_TYPES = {"router": ALERT_RECEIVED, "agent": CONTEXT_ENRICHED, "executor": PLAN_PROPOSED}


class Counting:
    """A request body stream that counts what the function pulled from it."""

    def __init__(self, size: int) -> None:
        self.left, self.pulled = size, 0

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        self.pulled += size
        return b"x" * size


def chunked(client: Any, path: str, stream: Counting, headers: dict[str, str]) -> Any:
    """POST an endless body with no Content-Length, as a chunked upload reaches the app."""
    return client.post(path, headers=headers, environ_overrides={
        "wsgi.input": stream, "wsgi.input_terminated": True})


def app(function: str) -> Any:
    return functions_framework.create_app(
        target="handle", source=str(ROOT / f"functions/{function}/main.py"),
        signature_type="http").test_client()


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in ("KUBECONFIG", "ROUTER_KUBECONFIG", "EXECUTOR_KUBECONFIG",
                 "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for module in SERVICES.values():
        importlib.import_module(module).instance.reset()
    limits.body_limit.cache_clear()
    yield
    limits.body_limit.cache_clear()
    for module in SERVICES.values():
        importlib.import_module(module).instance.reset()


def binary_headers(event_type: str) -> dict[str, str]:
    return {"ce-specversion": "1.0", "ce-type": event_type, "ce-id": "e-1",
            "ce-source": "/test", "content-type": "application/json"}


# ---- the shared pieces ----------------------------------------------------------------------


def test_depth_is_measured_without_parsing_and_strings_do_not_count() -> None:
    assert not limits.json_depth_exceeds(b"[" * 400 + b"]" * 400)
    assert limits.json_depth_exceeds(b"[" * 401 + b"]" * 401)
    assert limits.json_depth_exceeds(b'{"a":' * 401 + b"1" + b"}" * 401)
    assert limits.json_depth_exceeds(DEEP)
    # Brackets inside strings (escaped quotes too) are text, not nesting.
    text = json.dumps({"log": "[" * 5000 + '\\"{{{' + "{" * 5000})
    assert not limits.json_depth_exceeds(text)
    wide = json.dumps([[i] for i in range(5000)])
    assert not limits.json_depth_exceeds(wide), "many siblings are not depth"
    with pytest.raises(Exception, match="deeper than 400 levels"):
        limits.check_depth(DEEP)


def test_a_body_without_a_length_is_read_no_further_than_the_limit() -> None:
    class Chunked:
        content_length = None

        def __init__(self) -> None:
            self.stream: Any = Counting(50 * MIB)

    request = Chunked()
    stream = request.stream
    with pytest.raises(Exception, match="exceeds 4096 bytes") as raised:
        limits.read_body(request, 4096)
    assert raised.value.status == 413  # type: ignore[attr-defined]
    assert stream.pulled == 4097
    assert request.stream.read() == b"", "whatever drains the request afterwards reads nothing"


# ---- each function, through its real functions-framework app ------------------------------


def test_the_router_s_first_delivery_reads_its_settings_once() -> None:
    # Sender check and body limit read the settings before the service is built: one read.
    from orchestrator import sender
    from orchestrator.orient.service import instance

    limits.body_limit("router")
    assert instance().settings is sender.settings_of("router")


@pytest.mark.parametrize("function", sorted(SERVICES))
def test_router_agent_and_executor_refuse_big_bodies_unread(function: str) -> None:
    stream = Counting(200 * MIB)
    r = chunked(app(function), "/", stream, binary_headers(STAGE_TYPES[function]))
    assert r.status_code == 413, r.data
    assert f"exceeds {MIB} bytes" in r.get_json()["error"]
    assert stream.pulled <= MIB + 1, "read no further than the limit"
    declared = app(function).post("/", data=b"{" * (MIB + 1),
                                  headers=binary_headers(STAGE_TYPES[function]))
    assert declared.status_code == 413
    assert importlib.import_module(SERVICES[function]).instance.peek() is None, "nothing handled"


@pytest.mark.parametrize("function", sorted(SERVICES))
def test_the_limit_is_each_function_s_own_setting(function: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{function.upper()}_MAX_BODY_BYTES", "8192")
    r = app(function).post("/", data=b" " * 8193, headers=binary_headers(STAGE_TYPES[function]))
    assert r.status_code == 413 and "exceeds 8192 bytes" in r.get_json()["error"]


@pytest.mark.parametrize("function", sorted(SERVICES))
@pytest.mark.parametrize("structured", [False, True])
def test_deep_json_is_a_400_before_any_stage_runs(function: str, structured: bool) -> None:
    if structured:
        body = b'{"specversion":"1.0","type":"x","id":"1","source":"/t","data":' + DEEP + b"}"
        headers = {"content-type": "application/cloudevents+json"}
    else:
        body, headers = DEEP, binary_headers(STAGE_TYPES[function])
    r = app(function).post("/", data=body, headers=headers)
    assert r.status_code == 400, r.data
    assert "deeper than 400 levels" in r.get_json()["error"]
    assert importlib.import_module(SERVICES[function]).instance.peek() is None


@pytest.fixture
def ingest(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import orchestrator.ingest.service as service

    monkeypatch.setenv("INGEST_TOKEN", TOKEN)
    monkeypatch.setenv("K_SINK", sink.url)
    service.instance.reset()
    yield app("ingest")
    service.instance.reset()


def test_ingest_authenticates_before_it_parses_deep_json(ingest: Any, sink: Sink) -> None:
    headers = {"content-type": "application/json"}
    assert ingest.post("/", data=DEEP, headers=headers).status_code == 401
    r = ingest.post("/", data=DEEP, headers={**headers, **INGEST_AUTH})
    assert r.status_code == 400 and "deeper than 400 levels" in r.get_json()["error"]
    manual = {**binary_headers("incident.alert.manual"), **INGEST_AUTH}
    assert ingest.post("/", data=DEEP, headers=manual).status_code == 400
    assert sink.received == []


def test_ingest_refuses_big_bodies_and_too_many_alerts(ingest: Any, sink: Sink) -> None:
    stream = Counting(200 * MIB)
    r = chunked(ingest, "/", stream, INGEST_AUTH)
    assert r.status_code == 413 and stream.pulled <= MIB + 1
    hook = load_event("alertmanager_crashloop")
    hook["alerts"] = hook["alerts"][:1] * 1001
    r = ingest.post("/", data=json.dumps(hook), headers=INGEST_AUTH)
    assert r.status_code == 413 and "at most 1000" in r.get_json()["error"]
    assert sink.received == []


def test_the_console_bounds_every_path(tmp_path: Path, sink: Sink,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    console_env(monkeypatch, tmp_path / "audit", sink.url)
    client = console_app().test_client()
    try:
        for path in ("/events", "/deadletter", "/api/incidents"):
            stream = Counting(200 * MIB)
            r = chunked(client, path, stream, binary_headers("incident.x"))
            assert r.status_code == 413, path
            assert stream.pulled <= MIB + 1, path
        assert client.post("/events", data=DEEP,
                           headers=binary_headers("incident.resolved")).status_code == 400
        structured = b'{"specversion":"1.0","type":"x","id":"1","source":"/t","data":' + DEEP + b"}"
        r = client.post("/deadletter", data=structured,
                        headers={"content-type": "application/cloudevents+json"})
        assert r.status_code == 400
        r = client.post("/api/approvals/p-1/approve", data=b"[" * 30_000 + b"]" * 30_000,
                        headers={**CONSOLE_AUTH, "content-type": "application/json"})
        assert r.status_code == 400 and "deeper than 400" in r.get_json()["error"]
    finally:
        __import__("orchestrator.console.service").console.service.instance.reset()


def _peak_rss_mib(pid: int) -> float:
    """The process's high-water resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_real_router_process_keeps_its_memory_under_a_200_mib_upload(tmp_path: Path) -> None:
    """Through gunicorn as deployed: the refused upload is neither read nor drained into memory
    (before, the router's peak memory grew by ~400 MiB and the body was parsed)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "ROUTER_KUBECONFIG")}
    env.update(HOME=str(tmp_path), THREADS="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "functions_framework", "--target", "handle", "--source",
         str(ROOT / "functions/router/main.py"), "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    client = httpx.Client(timeout=60, trust_env=False)
    try:
        def answering() -> bool:
            assert proc.poll() is None, "no router"
            try:
                client.get(url)
            except httpx.TransportError:
                return False
            return True

        wait_until(answering, timeout=30, what="the router to answer")
        workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                 text=True, check=False).stdout.split()
        pids = [proc.pid, *map(int, workers)]
        before = max(map(_peak_rss_mib, pids))

        def upload() -> Iterator[bytes]:
            chunk = b"x" * MIB
            for _ in range(200):
                yield chunk

        r = client.post(url, content=upload(), headers=binary_headers(ALERT_RECEIVED))
        assert r.status_code == 413, r.text
        assert max(map(_peak_rss_mib, pids)) - before < 32
        r = client.post(url, content=DEEP, headers=binary_headers(ALERT_RECEIVED))
        assert r.status_code == 400 and "deeper than 400" in r.json()["error"]
        assert client.get(url).status_code == 200, "still serving"
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)
