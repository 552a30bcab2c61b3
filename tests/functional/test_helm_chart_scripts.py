"""The chart's two scripts, run as the Pods run them (subprocesses) against real HTTP servers:
the index Job's readiness wait, and the `helm test` loop check against the real ingest function
(served over HTTP, posting to a recording broker stand-in) and a console API stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from orchestrator.events import ALERT_RECEIVED, AlertReceived
from tests.fakes.serving import QuietHandler, free_port, serve_in_thread, wait_until
from tests.fakes.sink import Sink, running_sink
from tests.functional.helm_support import CHART, ROOT

SCRIPTS = CHART / "files" / "scripts"
INGEST_TOKEN = "helm-test-ingest-token"
API_TOKEN = "helm-test-api-token"


def status_server(status: int) -> ThreadingHTTPServer:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.reply(status)

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def run(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPTS / script), *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, check=False)


def test_wait_ready_passes_when_every_store_answers() -> None:
    with serve_in_thread(status_server(200)) as http, serve_in_thread(status_server(200)) as other:
        port = other.rsplit(":", 1)[1]
        done = run("wait_ready.py", f"{http}/minio/health/ready", f"tcp://127.0.0.1:{port}",
                   env={"WAIT_SECONDS": "10"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ready:") == 2


def test_wait_ready_gives_up_at_the_deadline_naming_what_is_not_ready() -> None:
    with serve_in_thread(status_server(503)) as http:
        done = run("wait_ready.py", f"{http}/readyz", f"tcp://127.0.0.1:{free_port()}",
                   env={"WAIT_SECONDS": "1"})
    assert done.returncode == 1
    assert "HTTP 503" in done.stderr and f"{http}/readyz" in done.stderr
    assert "tcp://127.0.0.1:" in done.stderr


@pytest.fixture
def ingest_url(tmp_path: Path) -> Iterator[tuple[str, Sink]]:
    """The real ingest function, served by functions-framework in its own process as in the
    image, posting to a recording broker stand-in."""
    with running_sink() as sink:
        port = free_port()
        env = {**os.environ, "INGEST_TOKEN": INGEST_TOKEN, "K_SINK": sink.url,
               "FUNCTION_TARGET": "handle", "FUNCTION_SOURCE": "functions/ingest/main.py",
               "PORT": str(port)}
        log = (tmp_path / "ingest.log").open("wb")
        proc = subprocess.Popen([str(Path(sys.executable).parent / "functions-framework")],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_healthy(url + "healthz", proc)
            yield url, sink
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    def healthy() -> bool:
        assert proc.poll() is None, f"functions-framework exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except OSError:
            return False

    wait_until(healthy, timeout=timeout, what=f"{url} to answer 200")


def console_api(sink: Sink, *, router_answers: bool) -> ThreadingHTTPServer:
    """The console's `GET /api/incidents/<key>`: what the broker received for that incident,
    plus the router's answer when `router_answers`; 404 before anything arrived."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.headers.get("Authorization") != f"Bearer {API_TOKEN}":
                return self.reply_json(401, {"error": "unauthorized"})
            key = self.path.removeprefix("/api/incidents/")
            events = [{"type": r.headers["ce-type"], "source": r.headers["ce-source"],
                       "id": r.headers["ce-id"]}
                      for r in list(sink.received) if r.headers.get("ce-incidentkey") == key]
            if not events:
                return self.reply_json(404, {"error": "no such incident"})
            if router_answers:
                events.append({"type": "incident.context.enriched",
                               "source": "/orchestrator/router", "id": "r1"})
            return self.reply_json(200, {"incident_key": key, "events": events})

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _test_env(tmp_path: Path, ingest: str, console: str, timeout: str) -> dict[str, str]:
    (tmp_path / "ingest-token").write_text(INGEST_TOKEN + "\n")
    (tmp_path / "api-token").write_text(API_TOKEN)
    return {"INGEST_URL": ingest, "CONSOLE_URL": console, "NAMESPACE": "incidents",
            "INGEST_TOKEN_FILE": str(tmp_path / "ingest-token"),
            "API_TOKEN_FILE": str(tmp_path / "api-token"), "TIMEOUT_SECONDS": timeout}


def test_helm_test_passes_when_the_router_answer_reaches_the_audit_log(
    ingest_url: tuple[str, Sink], tmp_path: Path,
) -> None:
    url, sink = ingest_url
    with serve_in_thread(console_api(sink, router_answers=True)) as console:
        done = run("helm_test.py", env=_test_env(tmp_path, url, console, "30"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout
    (received,) = sink.received
    assert received.headers["ce-type"] == ALERT_RECEIVED
    alert = AlertReceived.model_validate(received.json())
    assert alert.test and alert.manual
    assert alert.alert.labels["alertname"] == "OrchestratorHelmTest"
    assert INGEST_TOKEN not in received.body.decode(), "the token is checked, never forwarded"
    assert INGEST_TOKEN not in done.stdout + done.stderr and API_TOKEN not in done.stdout


def test_helm_test_fails_when_the_router_never_answers(
    ingest_url: tuple[str, Sink], tmp_path: Path,
) -> None:
    url, sink = ingest_url
    with serve_in_thread(console_api(sink, router_answers=False)) as console:
        done = run("helm_test.py", env=_test_env(tmp_path, url, console, "2"))
    assert done.returncode != 0
    assert "no router answer" in done.stderr and "incident.alert.received" in done.stderr


def test_helm_test_fails_fast_on_a_wrong_token(
    ingest_url: tuple[str, Sink], tmp_path: Path,
) -> None:
    url, sink = ingest_url
    env = _test_env(tmp_path, url, "http://127.0.0.1:9", "30")
    (tmp_path / "ingest-token").write_text("not-the-token")
    done = run("helm_test.py", env=env)
    assert done.returncode != 0 and "ingest answered 401" in done.stderr
    assert sink.received == []
