"""The fixtures several functional test modules share, found by name as pytest intends.

Each builds its world from a helper module beside it (`*_support.py`); the helpers hold the
plain functions and classes tests import, these hold what pytest sets up and tears down.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator import telemetry
from orchestrator.adapters.kube import Connection
from orchestrator.adapters.kube_transport import ApiServer, Endpoint
from orchestrator.adapters.object_store import LocalDirStore, MinioStore, ObjectStore
from orchestrator.console import service as console_service
from orchestrator.console.session import COOKIE
from orchestrator.local.stack import Stack, StackOptions
from tests import keys
from tests.fakes import kube_objects as ko
from tests.fakes.gemini import FakeGemini, fake_gemini
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.otlp import Receiver, otlp_receiver
from tests.fakes.s3 import S3Server, s3_server
from tests.fakes.sink import Sink
from tests.fakes.slack import FakeSlack, fake_slack
from tests.fakes.tls_proxy import TLSProxy, self_signed
from tests.functional.agent_support import build_index
from tests.functional.auth_support import (
    APP,
    CLUSTER,
    NS,
    SLACK_SECRET,
    Env,
    alert_payload,
    csrf_of,
    login,
)
from tests.functional.console_support import console_app, console_env, serve
from tests.functional.executor_support import (
    BUDGET_NS,
    ENFORCE,
    MECHANICS_RUNBOOK,
    ROOT,
    SCALE_RUNBOOK,
    Harness,
    executor_app,
    reset_service,
)
from tests.functional.executor_support import CLUSTER as EXECUTOR_CLUSTER
from tests.functional.fault_cases_support import Row, save
from tests.functional.fault_support import Rig
from tests.functional.injection_support import Run, run_planner
from tests.functional.kube_support import NAME, ServerFor

# The agent: agent_support.py.


@pytest.fixture(scope="module", name="qdrant")
def qdrant_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged runbooks indexed once per module."""
    return build_index(tmp_path_factory.mktemp("kb") / "qdrant")


@pytest.fixture(name="fake")
def fake_gemini_fixture() -> Iterator[FakeGemini]:
    """A fake Gemini server."""
    with fake_gemini() as f:
        yield f


# Authentication and forgeries: auth_support.py.


@pytest.fixture(scope="module", name="env")
def env_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("auth")
    with FakeKubeAPI() as api:
        scenario = ko.crashlooping_deployment(NS, APP).load(api)  # a fresh rollout: rollback
        options = StackOptions(
            state=tmp / "state", enforce=True, cluster_name=CLUSTER, time_scale=0.05,
            kubeconfig=Path(api.write_kubeconfig(str(tmp / "kubeconfig"))),
            env={"console": {"CONSOLE_SLACK_SIGNING_SECRET": SLACK_SECRET},
                 "router": {"ROUTER_VERIFY_TIMEOUT_SECONDS": "2",
                            "ROUTER_VERIFY_SETTLE_SECONDS": "1"}})
        with Stack(options) as stack:
            headers = {"Authorization": f"Bearer {stack.secrets['ingest_token']}"}
            payload = alert_payload(scenario["pod"]["metadata"]["name"], "a0a0a0a0a0a0a0a1")
            r = httpx.post(stack.ingest_url, json=payload, headers=headers, trust_env=False)
            assert r.status_code == 200, r.text
            (key,) = r.json()["incidents"]
            assert stack.broker is not None and stack.broker.wait_idle(60)
            (request,) = [e.data for e in stack.broker.events(key)
                          if e.attributes["type"] == "incident.approval.requested"]
            yield Env(stack, api, key, request)


@pytest.fixture(scope="module", name="web")
def web_fixture(env: Env) -> Iterator[httpx.Client]:
    """A client that keeps no cookie jar: each request carries exactly the cookie it is given."""
    def forget(_: httpx.Response) -> None:
        c.cookies.clear()

    with httpx.Client(base_url=env.stack.console_url, timeout=30, trust_env=False,
                      event_hooks={"response": [forget]}) as c:
        yield c


@pytest.fixture(scope="module", name="approved")
def approved_fixture(env: Env, web: httpx.Client) -> dict[str, Any]:
    """A human approves through the web page (cookie + CSRF); the executor acts once."""
    cookie = login(web, env)
    r = web.post(f"/incidents/{env.key}/decide", headers={"cookie": f"{COOKIE}={cookie}"},
                 data={"csrf": csrf_of(web, env, cookie), "plan_id": env.plan_id,
                       "decision": "approved"})
    assert r.status_code == 303, r.text[:300]
    env.idle()
    (event,) = [e for e in env.broker.events(env.key)
                if e.attributes["type"] == "incident.plan.approved"]
    assert [r.path for r in env.writes()] == [
        f"/apis/apps/v1/namespaces/{NS}/deployments/{APP}"]
    return {"attributes": dict(event.attributes), "data": event.data, "body": event.body}


# The executor: executor_support.py.


@pytest.fixture(name="harness")
def harness_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """The executor app on a fresh fake cluster."""
    with FakeKubeAPI() as api:
        kubeconfig = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
        policy = tmp_path / "policy.yaml"
        policy.write_text(ENFORCE)
        books = tmp_path / "runbooks"
        shutil.copytree(ROOT / "runbooks", books)
        (books / "capacity_test.md").write_text(SCALE_RUNBOOK)
        (books / "mechanics_test.md").write_text(MECHANICS_RUNBOOK)
        for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
                     "POD_NAMESPACE", "HOSTNAME"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {
            "EXECUTOR_KUBECONFIG": kubeconfig, "EXECUTOR_IN_CLUSTER": "false",
            "EXECUTOR_POLICY_FILE": str(policy), "EXECUTOR_CLUSTER_NAME": EXECUTOR_CLUSTER,
            **keys.env("executor"),
            "EXECUTOR_BUDGET_NAMESPACE": BUDGET_NS, "EXECUTOR_INSTANCE": "executor-test-0",
            "EXECUTOR_RUNBOOKS_DIR": str(books),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("EXECUTOR_MODE", raising=False)
        reset_service()
        try:
            yield Harness(api, executor_app().test_client(), policy, tmp_path)
        finally:
            reset_service()
            assert not api.server_errors, api.server_errors


# The fault tables: fault_support.py and fault_cases_support.py.


@pytest.fixture(scope="module", name="rig")
def rig_fixture(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One stack and fake world per test module (the cases heal what they break)."""
    with Rig(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])) as running:
        yield running


@pytest.fixture(scope="module", name="rows")
def rows_fixture() -> Iterator[list[Row]]:
    """The module's table rows, written to artifacts/faults.md when it ends."""
    found: list[Row] = []
    yield found
    save(found)


# Prompt injection: injection_support.py.


@pytest.fixture(scope="module", params=["offline", "gemini", "openai"], name="run")
def run_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_planner(tmp_path_factory.mktemp(request.param), request.param)


@pytest.fixture(name="tls")
def tls_fixture(api: FakeKubeAPI, tmp_path: Path) -> Iterator[tuple[TLSProxy, Path]]:
    """The module's fake API behind TLS with a self-signed certificate: (proxy, its cert)."""
    cert, key = self_signed(tmp_path)
    proxy = TLSProxy(api.port, cert, key)
    yield proxy, cert
    proxy.close()


@pytest.fixture
def named_tls(api: FakeKubeAPI, tmp_path: Path) -> Iterator[tuple[TLSProxy, Path]]:
    """The module's fake API behind TLS whose certificate names only `kube_support.NAME` (no
    IP address): (proxy, its cert)."""
    cert, key = self_signed(tmp_path, names=(NAME,), stem="named")
    proxy = TLSProxy(api.port, cert, key)
    yield proxy, cert
    proxy.close()


@pytest.fixture
def server_for() -> Iterator[ServerFor]:
    """`ApiServer`s for endpoints, closed after the test."""
    made: list[ApiServer] = []

    def make(endpoint: Endpoint) -> ApiServer:
        made.append(ApiServer(endpoint))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable from the machine running the tests."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)


# Stores: tests/fakes/s3.py and the project's own object stores.


@pytest.fixture(scope="module", name="s3")
def s3_fixture() -> Iterator[S3Server]:
    """An S3 server (moto's server mode) for the module."""
    with s3_server() as server:
        yield server


@pytest.fixture(params=["local", "s3"], name="stores")
def stores_fixture(request: pytest.FixtureRequest,
                   tmp_path: Path) -> Iterator[Callable[[], ObjectStore]]:
    """A factory of independent clients over one backing store (one per writer): a local
    folder, then a fresh bucket on the S3 server."""
    if request.param == "local":
        yield lambda: LocalDirStore(tmp_path / "audit")
        return
    server = request.getfixturevalue("s3")
    bucket = f"audit-{random.randrange(16**8):08x}"
    yield lambda: MinioStore.connect(server.endpoint, server.access_key, server.secret_key,
                                     bucket)


# The console: console_support.py.


@pytest.fixture(name="chat")
def chat_fixture() -> Iterator[FakeSlack]:
    """A fake Slack (incoming webhook, Web API, response URLs) and a generic webhook."""
    with fake_slack() as s:
        yield s


@pytest.fixture(name="console_for")
def console_for_fixture(tmp_path: Path, sink: Sink,
                        monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Builds a console's test client on an audit folder (this test's `tmp_path / "audit"`
    unless given), with extra settings as keyword arguments; the console's service is dropped
    after the test."""
    def build(audit: Path | None = None, **extra: str) -> Any:
        console_env(monkeypatch, audit or tmp_path / "audit", sink.url, **extra)
        return console_app().test_client()

    yield build
    console_service.instance.reset()


@pytest.fixture(name="served_console")
def served_console_fixture(tmp_path: Path, sink: Sink,
                           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """A console served on a loopback port too, for the clients that need a URL (the CLI, MCP):
    (its test client, its URL). Its own data folder keeps `orchestrator up` state out."""
    console_env(monkeypatch, tmp_path / "audit", sink.url, XDG_DATA_HOME=str(tmp_path / "data"))
    app = console_app()
    with serve(app) as url:
        yield app.test_client(), url
    console_service.instance.reset()


# Tracing: tests/fakes/otlp.py; the traced local stack: tracing_support.py.


@pytest.fixture(name="receiver")
def receiver_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """Export switched on in this process, to a real OTLP/HTTP receiver (set before the first
    request of the function under test, which reads it once)."""
    with otlp_receiver() as rc:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.url)
        telemetry.reset()
        try:
            yield rc
        finally:
            telemetry.reset()


# Kubernetes connections: tests/fakes/kube_api.py.


@pytest.fixture(name="connections")
def connections_fixture() -> Iterator[list[Connection]]:
    """Connections a test opens, appended here: closed after it."""
    made: list[Connection] = []
    yield made
    for c in made:
        c.close()
