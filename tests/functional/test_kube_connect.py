"""Connecting once per process: in-cluster, else kubeconfig, else no cluster, each path for real;
and the client's exceptions never leaving the adapter untranslated."""

from __future__ import annotations

import http.client
import json
import logging
import ssl
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import BaseModel

from orchestrator.adapters.kube import Connection, connect, translated
from orchestrator.adapters.kube_errors import (
    BadResponse,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    Rejected,
)
from orchestrator.adapters.kube_reads import KubeReader
from orchestrator.adapters.kube_transport import ApiServer, Endpoint
from orchestrator.errors import OrchestratorError, TransientError
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.serving import serve_in_thread
from tests.fakes.tls_proxy import TLSProxy, self_signed
from tests.functional.router_support import fake_api

TOKEN = "sa-token-for-the-router"


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    yield from fake_api()


def _service_account(folder: Path, ca: Path, token: str = TOKEN) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token").write_text(token)
    (folder / "ca.crt").write_bytes(ca.read_bytes())
    (folder / "namespace").write_text("incident-orchestrator\n")
    return folder


def _connect(made: list[Connection], **kwargs: object) -> Connection:
    conn = connect(home=Path("/nonexistent-home"), **kwargs)  # type: ignore[arg-type]
    made.append(conn)
    return conn


def test_in_cluster_service_account(api: FakeKubeAPI, tls: tuple[TLSProxy, Path],
                                    tmp_path: Path, connections: list[Connection],
                                    caplog: pytest.LogCaptureFixture) -> None:
    proxy, ca = tls
    sa = _service_account(tmp_path / "sa", ca)
    api.add(ko.pod("web-0", "shop"))
    # A kubeconfig is present too: inside a Pod the service account wins.
    kubeconfig = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
    with caplog.at_level(logging.INFO, logger="orchestrator.adapters.kube"):
        conn = _connect(connections, service_host="127.0.0.1", service_port=str(proxy.port),
                        service_account_dir=sa, kubeconfig=kubeconfig)
    assert (conn.source, conn.namespace) == ("in-cluster", "incident-orchestrator")
    assert conn.host == f"https://127.0.0.1:{proxy.port}"
    assert "in-cluster service account" in caplog.text
    pod = KubeReader(conn.server).get("Pod", "shop", "web-0")
    assert pod["metadata"]["name"] == "web-0"
    (req,) = api.find_requests("GET", "/pods/web-0$")
    assert req.headers["authorization"].lower() == f"bearer {TOKEN}"


def test_in_cluster_with_an_untrusted_server_is_transient(
        api: FakeKubeAPI, tls: tuple[TLSProxy, Path], tmp_path: Path,
        connections: list[Connection]) -> None:
    proxy, _ = tls
    (tmp_path / "other").mkdir()
    other_ca, _ = self_signed(tmp_path / "other")
    sa = _service_account(tmp_path / "sa", other_ca)
    conn = _connect(connections, service_host="127.0.0.1", service_port=str(proxy.port),
                    service_account_dir=sa)
    with pytest.raises(TransientError) as err:
        KubeReader(conn.server, timeout=3).get("Pod", "shop", "web-0")
    assert "unreachable" in str(err.value) and "CERTIFICATE_VERIFY_FAILED" in str(err.value)


def test_kubeconfig_when_not_in_a_pod(api: FakeKubeAPI, tmp_path: Path,
                                      connections: list[Connection],
                                      caplog: pytest.LogCaptureFixture) -> None:
    path = api.write_kubeconfig(str(tmp_path / "config"), namespace="shop")
    with caplog.at_level(logging.INFO, logger="orchestrator.adapters.kube"):
        conn = _connect(connections, kubeconfig=f"{tmp_path / 'missing'}:{path}")
    assert (conn.source, conn.host, conn.namespace) == ("kubeconfig", api.url, "shop")
    assert "context fake" in caplog.text
    api.add(ko.pod("web-0", "shop"))
    KubeReader(conn.server).get("Pod", "shop", "web-0")
    assert api.find_requests("GET", "/pods/web-0$")[0].headers["authorization"] == \
        "Bearer fake-token"


def test_default_kubeconfig_in_home(api: FakeKubeAPI, tmp_path: Path,
                                    connections: list[Connection]) -> None:
    (tmp_path / ".kube").mkdir()
    api.write_kubeconfig(str(tmp_path / ".kube" / "config"))
    conn = connect(home=tmp_path)
    connections.append(conn)
    assert conn.source == "kubeconfig"


def test_a_pod_without_its_token_falls_back_to_the_kubeconfig(
        api: FakeKubeAPI, tmp_path: Path, connections: list[Connection]) -> None:
    # The failure of the first design, the other way round: KUBERNETES_SERVICE_HOST is set
    # (a Pod) but automountServiceAccountToken is off.
    path = api.write_kubeconfig(str(tmp_path / "config"))
    conn = _connect(connections, service_host="10.96.0.1", service_port="443",
                    service_account_dir=tmp_path / "no-sa", kubeconfig=path)
    assert conn.source == "kubeconfig"


def test_no_cluster_at_all(tmp_path: Path, connections: list[Connection],
                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="orchestrator.adapters.kube"):
        conn = _connect(connections, service_account_dir=tmp_path / "no-sa")
    assert (conn.source, conn.available, conn.problem) == ("none", False, None)
    assert "running without a cluster" in caplog.text


def test_kubeconfig_no_such_file_is_not_fatal(tmp_path: Path, connections: list[Connection],
                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="orchestrator.adapters.kube"):
        conn = _connect(connections, kubeconfig=str(tmp_path / "nope"))
    assert conn.source == "none"
    assert conn.problem == f"kubeconfig {tmp_path / 'nope'}: no such file"
    assert "no usable cluster configuration" in caplog.text


def test_broken_kubeconfig_is_reported(api: FakeKubeAPI, tmp_path: Path,
                                       connections: list[Connection]) -> None:
    path = api.write_kubeconfig(str(tmp_path / "config"))
    conn = _connect(connections, kubeconfig=path, context="no-such-context")
    assert conn.source == "none"
    assert conn.problem is not None and "no-such-context" in conn.problem


# ---- error translation --------------------------------------------------------------------


@pytest.mark.parametrize(("status", "expected"), [
    (404, NotFound), (403, Forbidden), (409, Conflict), (410, Gone), (400, Rejected),
    (422, Rejected),
    (401, TransientError), (429, TransientError), (500, TransientError),
    (503, TransientError), (504, TransientError),
])
def test_api_statuses_map_onto_our_errors(api: FakeKubeAPI, status: int,
                                          expected: type[Exception]) -> None:
    api.fail("GET", r"/pods/web-0$", status)
    with pytest.raises(expected) as err:
        KubeReader(api.server()).get("Pod", "shop", "web-0")
    assert isinstance(err.value, OrchestratorError)
    assert str(status) in str(err.value)


def test_unreachable_and_timeouts_are_transient(api: FakeKubeAPI) -> None:
    reader = KubeReader(api.server(), timeout=0.3)
    api.delay(r"/pods/slow$", 2)
    with pytest.raises(TransientError, match="unreachable"):
        reader.get("Pod", "shop", "slow")
    api.down()
    with pytest.raises(TransientError, match="unreachable"):
        reader.get("Pod", "shop", "web-0")


def test_a_body_that_is_not_json_is_a_bad_response() -> None:
    class Garbage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            body = b"<html>not json</html>"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Garbage)) as url:
        server = ApiServer(Endpoint(url))
        try:
            with pytest.raises(BadResponse):
                KubeReader(server).get("Pod", "shop", "web-0")
        finally:
            server.close()


@pytest.mark.parametrize("failure", [
    ssl.SSLCertVerificationError("certificate verify failed"),
    http.client.IncompleteRead(b"{", 10), http.client.RemoteDisconnected("closed"),
    ConnectionResetError(104, "Connection reset by peer"), TimeoutError("timed out"),
], ids=type)
def test_network_and_tls_failures_are_transient(failure: Exception) -> None:
    with pytest.raises(TransientError, match=r"unreachable \(get Pod x\)") as err, \
            translated("get Pod x"):
        raise failure
    assert err.value.__cause__ is failure


def test_bodies_that_do_not_validate_are_bad_responses_and_our_errors_pass() -> None:
    class Strict(BaseModel):
        replicas: int

    with pytest.raises(BadResponse), translated("list ReplicaSet"):
        Strict.model_validate({})
    gone = NotFound(404, "NotFound", "pods x not found", "get Pod x")
    with pytest.raises(NotFound) as err, translated("get Pod x"):
        raise gone
    assert err.value is gone


def test_watch_from_a_compacted_version_is_gone(api: FakeKubeAPI) -> None:
    api.add(ko.deployment("web", "shop"))
    for n in range(5):
        api.mutate("Deployment", "shop", "web",
                   lambda d, n=n: d["metadata"].setdefault("labels", {}).update(step=str(n)))
    # etcd compaction, as the fake can do it: keep only the newest change.
    with api.store.lock:
        api.store.HISTORY = 1  # type: ignore[misc]
        api.store._history = deque(api.store._history, maxlen=1)
    with pytest.raises(Gone):
        list(KubeReader(api.server()).watch("Deployment", "shop", "web",
                                                resource_version="1", timeout_seconds=2))


def test_status_bodies_keep_the_apis_message(api: FakeKubeAPI) -> None:
    with pytest.raises(NotFound) as err:
        KubeReader(api.server()).get("Pod", "shop", "gone")
    assert err.value.reason == "NotFound" and 'pods "gone" not found' in str(err.value)
    assert json.dumps(str(err.value))  # a plain string, safe to record


def test_an_ipv6_service_host_is_bracketed(tls: tuple[TLSProxy, Path], tmp_path: Path,
                                           connections: list[Connection]) -> None:
    _, ca = tls
    conn = _connect(connections, service_host="fd00:10:96::1", service_port="443",
                    service_account_dir=_service_account(tmp_path / "sa", ca), kubeconfig="")
    assert (conn.source, conn.host) == ("in-cluster", "https://[fd00:10:96::1]:443")
