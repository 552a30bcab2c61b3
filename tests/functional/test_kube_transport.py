"""The Kubernetes transport (`kube_transport`) against real TLS, a real forward proxy and the
fake API server: what the kubernetes client's urllib3 transport did for the functions, kept."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from orchestrator.adapters.kube import Connection, connect
from orchestrator.adapters.kube_errors import NotFound
from orchestrator.adapters.kube_reads import KubeReader
from orchestrator.adapters.kube_transport import ApiServer, Endpoint, Fixed, TokenFile, bypasses
from orchestrator.adapters.kube_writes import KubeWriter
from orchestrator.errors import PermanentError, TransientError
from tests.fakes import kube_objects as ko
from tests.fakes.forward_proxy import ForwardProxy
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.serving import serve_in_thread, wait_until
from tests.fakes.tls_proxy import TLSProxy, self_signed
from tests.functional.router_support import fake_api

ROOT = Path(__file__).resolve().parents[2]
NAME = "kube.example.test"
"""A name only the forward proxy resolves, as a proxied cluster's API server is."""


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    for fake in fake_api():
        fake.add(ko.pod("web-0", "shop"))
        yield fake


@pytest.fixture
def named_tls(api: FakeKubeAPI, tmp_path: Path) -> Iterator[tuple[TLSProxy, Path]]:
    """The fake API behind TLS whose certificate names only NAME (no IP address)."""
    cert, key = self_signed(tmp_path, names=(NAME,), stem="named")
    proxy = TLSProxy(api.port, cert, key)
    yield proxy, cert
    proxy.close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def _server(endpoint: Endpoint, made: list[ApiServer]) -> ApiServer:
    server = ApiServer(endpoint)
    made.append(server)
    return server


@pytest.fixture
def servers() -> Iterator[list[ApiServer]]:
    made: list[ApiServer] = []
    yield made
    for server in made:
        server.close()


def _name(api: FakeKubeAPI, server: ApiServer) -> str:
    return str(KubeReader(server, timeout=3).get("Pod", "shop", "web-0")["metadata"]["name"])


# ---- the pool -------------------------------------------------------------------------------


def test_requests_share_one_pooled_connection(api: FakeKubeAPI, tls: tuple[TLSProxy, Path],
                                              servers: list[ApiServer]) -> None:
    proxy, ca = tls
    server = _server(Endpoint(f"https://127.0.0.1:{proxy.port}", ca_file=str(ca)), servers)
    for _ in range(5):
        assert _name(api, server) == "web-0"
    assert proxy.accepted == 1, "each request opened its own TLS connection"


def test_refusals_keep_the_connection(api: FakeKubeAPI, tls: tuple[TLSProxy, Path],
                                      servers: list[ApiServer]) -> None:
    proxy, ca = tls
    reader = KubeReader(_server(Endpoint(f"https://127.0.0.1:{proxy.port}", ca_file=str(ca)),
                                servers), timeout=3)
    for _ in range(5):
        with pytest.raises(NotFound):
            reader.get("Pod", "shop", "gone")
    assert _name(api, reader.server) == "web-0"
    assert proxy.accepted == 1, "a 404 cost a new TLS connection"


def test_names_stay_one_path_segment(api: FakeKubeAPI, servers: list[ApiServer]) -> None:
    reader = KubeReader(_server(Endpoint(api.url), servers), timeout=3)
    for name in ("web-0?dryRun=All", "../../../nodes/n1", "web 0", "web-0\r\nX-Injected: 1"):
        with pytest.raises(NotFound):
            reader.get("Pod", "shop", name)
    gets = [r for r in api.requests if r.method == "GET"]
    assert all(r.query == {} for r in gets), "a name became a query"
    paths = [unquote(r.path) for r in gets]
    assert paths == ["/api/v1/namespaces/shop/pods/" + n for n in (
        "web-0?dryRun=All", "../../../nodes/n1", "web 0", "web-0\r\nX-Injected: 1")]
    for bad in ("", ".", ".."):
        with pytest.raises(PermanentError, match="not an object name"):
            reader.get("Pod", "shop", bad)


def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed(
        api: FakeKubeAPI, tls: tuple[TLSProxy, Path], servers: list[ApiServer]) -> None:
    proxy, ca = tls
    server = _server(Endpoint(f"https://127.0.0.1:{proxy.port}", ca_file=str(ca)), servers)
    writer = KubeWriter(server, timeout=3)
    assert _name(api, server) == "web-0"
    proxy.hang_up()
    wait_until(lambda: not proxy._open, what="the proxy closing its connections")
    # A POST is never sent twice, so it must not even start on the dead connection.
    pod = api.get("Pod", "shop", "web-0")
    assert pod is not None
    assert writer.evict("shop", "web-0", uid=pod["metadata"]["uid"], resource_version=None,
                        dry_run=True)
    assert len(api.find_requests("POST", "/pods/web-0/eviction$")) == 1
    assert proxy.accepted == 2


def test_a_timed_out_read_is_not_sent_again(api: FakeKubeAPI, servers: list[ApiServer]) -> None:
    api.add(ko.pod("slow", "shop"))
    api.delay(r"/pods/slow$", 2)
    reader = KubeReader(_server(Endpoint(api.url), servers), timeout=0.3)
    reader.get("Pod", "shop", "web-0")  # the slow read then goes out on a pooled connection
    with pytest.raises(TransientError, match="unreachable.*TimeoutError"):
        reader.get("Pod", "shop", "slow")
    assert len(api.find_requests("GET", "/pods/slow$")) == 1, "a timed-out read was resent"


class HangsUpOnReuse(BaseHTTPRequestHandler):
    """Answers the first request on each connection; on any later one, reads it and closes the
    connection without an answer (as a server restarting under a keep-alive client does)."""

    protocol_version = "HTTP/1.1"
    received: list[str] = []

    def setup(self) -> None:
        super().setup()
        self.answered = False

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(self.command)
        if self.answered:
            self.close_connection = True
            return
        self.answered = True
        body = json.dumps({"kind": "Pod", "metadata": {"name": "web-0"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_a_request_lost_on_a_reused_connection_is_resent_only_when_idempotent(
        servers: list[ApiServer]) -> None:
    HangsUpOnReuse.received = []
    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), HangsUpOnReuse)) as url:
        server = _server(Endpoint(url), servers)
        reader, writer = KubeReader(server, timeout=3), KubeWriter(server, timeout=3)
        reader.get("Pod", "shop", "web-0")
        assert reader.get("Pod", "shop", "web-0")["metadata"]["name"] == "web-0"
        assert HangsUpOnReuse.received == ["GET", "GET", "GET"], "resent on a new connection"
        with pytest.raises(TransientError, match="RemoteDisconnected"):
            writer.evict("shop", "web-0", uid="u", resource_version=None, dry_run=False)
        assert HangsUpOnReuse.received == ["GET", "GET", "GET", "POST"], "a POST sent twice"


def test_a_refused_connection_is_transient(servers: list[ApiServer]) -> None:
    with pytest.raises(TransientError, match="ConnectionRefusedError"):
        KubeReader(_server(Endpoint("http://127.0.0.1:9"), servers)).get("Pod", "shop", "x")


# ---- TLS ------------------------------------------------------------------------------------


def test_tls_server_name_is_the_name_the_certificate_is_checked_against(
        api: FakeKubeAPI, named_tls: tuple[TLSProxy, Path], servers: list[ApiServer]) -> None:
    proxy, cert = named_tls
    host = f"https://127.0.0.1:{proxy.port}"
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        _name(api, _server(Endpoint(host, ca_file=str(cert)), servers))
    assert _name(api, _server(Endpoint(host, ca_file=str(cert), tls_server_name=NAME),
                              servers)) == "web-0"


def test_insecure_skips_the_certificate_check_and_only_then(
        api: FakeKubeAPI, tls: tuple[TLSProxy, Path], servers: list[ApiServer]) -> None:
    proxy, _ = tls
    host = f"https://127.0.0.1:{proxy.port}"
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        _name(api, _server(Endpoint(host), servers))  # the system's CAs do not know it
    assert _name(api, _server(Endpoint(host, verify=False), servers)) == "web-0"


def test_a_client_certificate_is_presented_from_the_kubeconfig(
        api: FakeKubeAPI, tmp_path: Path, connections: list[Connection]) -> None:
    cert, key = self_signed(tmp_path)
    client_cert, client_key = self_signed(tmp_path, names=("system:admin",), stem="client")
    proxy = TLSProxy(api.port, cert, key, client_ca=client_cert)
    try:
        cluster = {"server": f"https://127.0.0.1:{proxy.port}",
                   "certificate-authority-data": _b64(cert.read_bytes())}
        user = {"client-certificate-data": _b64(client_cert.read_bytes()),
                "client-key-data": _b64(client_key.read_bytes())}
        conn = _connect(tmp_path / "with-cert", cluster, user, connections)
        assert conn.server is not None and _name(api, conn.server) == "web-0"
        bare = _connect(tmp_path / "without", cluster, {"token": "t"}, connections)
        assert bare.server is not None
        with pytest.raises(TransientError, match="unreachable"):
            _name(api, bare.server)
    finally:
        proxy.close()


# ---- credentials ----------------------------------------------------------------------------


def test_a_token_file_is_read_again_once_its_period_has_passed(
        api: FakeKubeAPI, tmp_path: Path, servers: list[ApiServer]) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    rotating = _server(Endpoint(api.url, authorization=TokenFile(token, every=0)), servers)
    cached = _server(Endpoint(api.url, authorization=TokenFile(token, every=3600)), servers)
    _name(api, rotating), _name(api, cached)
    token.write_text("second\n")  # the kubelet rotated the projected token
    _name(api, rotating), _name(api, cached)
    seen = [r.headers["authorization"] for r in api.find_requests("GET", "/pods/web-0$")]
    assert seen == ["Bearer first", "Bearer first", "Bearer second", "Bearer first"]
    token.write_text("")  # mid-rotation: the token read before still holds
    _name(api, rotating)
    assert api.find_requests("GET", "/pods/web-0$")[-1].headers["authorization"] == \
        "Bearer second"
    fresh = _server(Endpoint(api.url, authorization=TokenFile(token)), servers)
    with pytest.raises(TransientError, match="empty"):  # nothing read yet: retried later
        _name(api, fresh)


def test_a_kubeconfig_token_file_loses_its_line_end_and_a_broken_header_is_never_quoted(
        api: FakeKubeAPI, tmp_path: Path, connections: list[Connection],
        servers: list[ApiServer]) -> None:
    (tmp_path / "token").write_text("tok-abc\n")  # as `kubectl create token > file` writes it
    conn = _connect(tmp_path / "config", {"server": api.url}, {"tokenFile": "token"},
                    connections)
    assert conn.server is not None and _name(api, conn.server) == "web-0"
    assert api.find_requests("GET", "/pods/web-0$")[-1].headers["authorization"] == \
        "Bearer tok-abc"
    broken = _server(Endpoint(api.url, authorization=Fixed("Bearer tok-abc\nsecond-line")),
                     servers)
    with pytest.raises(PermanentError, match="line break") as err:
        _name(api, broken)
    assert "tok-abc" not in str(err.value)


def test_nothing_secret_in_reprs_or_in_a_refused_proxys_message(
        tmp_path: Path, connections: list[Connection]) -> None:
    token = tmp_path / "token"
    token.write_text("sa-secret-token")
    source = TokenFile(token)
    source()
    shown = repr(Endpoint("https://h", proxy="http://alice:s3cr3t@p:3128",
                          authorization=Fixed("Bearer kc-secret"))) + repr(source) + repr(
        Fixed("Bearer kc-secret"))
    assert "s3cr3t" not in shown and "secret-token" not in shown and "kc-secret" not in shown
    conn = _connect(tmp_path / "config", {"server": "https://a:6443",
                                          "proxy-url": "https://alice:s3cr3t@proxy.corp:3128"},
                    {"token": "t"}, connections)
    assert conn.source == "none" and conn.problem is not None
    assert "https://proxy.corp:3128" in conn.problem and "s3cr3t" not in conn.problem


def test_in_cluster_reads_without_the_kubernetes_client_or_its_libraries(
        api: FakeKubeAPI, tls: tuple[TLSProxy, Path], tmp_path: Path) -> None:
    proxy, ca = tls
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "ca.crt").write_bytes(ca.read_bytes())
    code = f"""
import json, sys
from pathlib import Path
from orchestrator.adapters.kube import connect
from orchestrator.adapters.kube_reads import KubeReader
conn = connect(service_host="127.0.0.1", service_port="{proxy.port}",
               service_account_dir=Path({str(sa)!r}), kubeconfig="")
pod = KubeReader(conn.server).get("Pod", "shop", "web-0")
print(json.dumps({{"source": conn.source, "pod": pod["metadata"]["name"], "loaded": sorted(
    m for m in ("kubernetes", "urllib3", "requests", "yaml", "dateutil") if m in sys.modules)}}))
"""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_PROXY", "_proxy"))}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "source": "in-cluster", "pod": "web-0", "loaded": []}
    (req,) = api.find_requests("GET", "/pods/web-0$")
    assert req.headers["authorization"] == "Bearer sa-token"


# ---- proxies --------------------------------------------------------------------------------


def test_https_goes_through_the_environments_proxy_in_a_connect_tunnel(
        api: FakeKubeAPI, named_tls: tuple[TLSProxy, Path], monkeypatch: pytest.MonkeyPatch,
        no_proxy_env: None, servers: list[ApiServer]) -> None:
    tls, cert = named_tls
    forward = ForwardProxy({f"{NAME}:6443": tls.port})
    try:
        monkeypatch.setenv("HTTPS_PROXY", f"http://ops:s%40cret@127.0.0.1:{forward.port}")
        server = _server(Endpoint(f"https://{NAME}:6443", ca_file=str(cert)), servers)
        assert _name(api, server) == "web-0"
        (seen,) = forward.seen
        assert (seen.method, seen.target) == ("CONNECT", f"{NAME}:6443")
        assert seen.authorization == "Basic " + _b64(b"ops:s@cret")
        monkeypatch.setenv("NO_PROXY", "localhost,.example.test")
        direct = _server(Endpoint(f"https://{NAME}:6443", ca_file=str(cert)), servers)
        with pytest.raises(TransientError, match="unreachable"):  # not resolvable directly
            _name(api, direct)
        assert len(forward.seen) == 1
    finally:
        forward.close()


def test_an_ipv6_api_server_is_tunnelled_to_in_brackets(
        api: FakeKubeAPI, named_tls: tuple[TLSProxy, Path], monkeypatch: pytest.MonkeyPatch,
        no_proxy_env: None, servers: list[ApiServer]) -> None:
    tls, cert = named_tls
    forward = ForwardProxy({"[fd00:10:96::1]:443": tls.port})
    try:
        monkeypatch.setenv("HTTPS_PROXY", forward.url)
        server = _server(Endpoint("https://[fd00:10:96::1]:443", ca_file=str(cert),
                                  tls_server_name=NAME), servers)
        assert _name(api, server) == "web-0"
        assert [s.target for s in forward.seen] == ["[fd00:10:96::1]:443"]
    finally:
        forward.close()


@pytest.mark.parametrize("plugin", [False, True], ids=["plain", "exec-plugin"])
def test_a_kubeconfigs_proxy_url_is_used_for_plain_http_too(
        api: FakeKubeAPI, tmp_path: Path, no_proxy_env: None, plugin: bool,
        connections: list[Connection]) -> None:
    """Also when the kubeconfig needs the client's loader (EKS, GKE), which ignores it."""
    forward = ForwardProxy({f"{NAME}:8080": api.port})
    user: dict[str, Any] = {"token": "t"}
    if plugin:
        credential = {"apiVersion": "client.authentication.k8s.io/v1",
                      "kind": "ExecCredential", "status": {"token": "t"}}
        user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                         "command": sys.executable, "interactiveMode": "Never",
                         "args": ["-c", f"print({json.dumps(json.dumps(credential))})"]}}
    try:
        proxy_url = forward.url.replace("http://", "http://ops:pw@")
        conn = _connect(tmp_path / "config", {"server": f"http://{NAME}:8080",
                                              "proxy-url": proxy_url}, user, connections)
        assert conn.server is not None
        assert _name(api, conn.server) == "web-0"
        assert [(s.method, s.target, s.authorization) for s in forward.seen] == [
            ("GET", f"http://{NAME}:8080/api/v1/namespaces/shop/pods/web-0",
             "Basic " + _b64(b"ops:pw"))]
        assert "proxy-authorization" not in api.requests[-1].headers
        assert api.requests[-1].headers["authorization"] == "Bearer t"
    finally:
        forward.close()


def test_an_unusable_proxy_is_a_connection_problem_not_a_crash(
        tmp_path: Path, connections: list[Connection]) -> None:
    conn = _connect(tmp_path / "config", {"server": "https://a:6443",
                                          "proxy-url": "socks5://127.0.0.1:1080"},
                    {"token": "t"}, connections)
    assert conn.source == "none" and conn.problem is not None and "socks5" in conn.problem


@pytest.mark.parametrize(("host", "port", "no_proxy", "bypassed"), [
    ("api.example.test", 443, "", False),
    ("api.example.test", 443, "*", True),
    ("api.example.test", 443, "example.test", True),
    ("example.test", 443, "example.test", True),
    ("example.test", 443, ".example.test", False),
    ("api.example.test", 443, ".example.test", True),
    ("api.example.test", 443, "*.example.test", True),
    ("example.test", 443, "*.example.test", False),
    ("badexample.test", 443, "example.test", False),
    ("api.example.test", 6443, "other.test, example.test:6443", True),
    ("api.example.test", 443, "example.test:6443", False),
    ("10.96.0.1", 443, "10.0.0.0/8", True),
    ("10.96.0.1", 443, "192.168.0.0/16,10.96.0.2", False),
    ("10.96.0.1", 443, "10.96.0.1", True),
    ("10.96.0.1", 443, "10.96.0.1:443", True),
    ("10.96.0.1", 443, "10.96.0.1:6443", False),
    ("fd00::1", 443, "fd00::/8", True),
    ("fd00::1", 443, "[fd00::1]:443", True),
    ("fd00::1", 443, "fd00::1", True),
    ("127.0.0.1", 443, "", True),
    ("localhost", 443, "", True),
    ("[::1]", 443, "", True),
    ("API.Example.Test", 443, "example.test", True),
])
def test_no_proxy_reads_as_kubectl_reads_it(host: str, port: int, no_proxy: str,
                                            bypassed: bool) -> None:
    assert bypasses(host, port, no_proxy) is bypassed


# ---- helpers --------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.standard_b64encode(data).decode()


def _connect(path: Path, cluster: dict[str, Any], user: dict[str, Any],
             made: list[Connection]) -> Connection:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "c", "cluster": cluster}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    path.write_text(json.dumps(doc))
    conn = connect(kubeconfig=str(path), in_cluster=False)
    made.append(conn)
    return conn


class Chunks:
    """A response body as it arrives, in the given pieces."""

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = chunks

    def chunks(self) -> Iterator[bytes]:
        yield from self._chunks


def test_watch_lines_are_joined_across_chunks_and_bounded() -> None:
    from orchestrator.adapters.kube_reads import WATCH_LINE_LIMIT, _lines

    body = Chunks(b'{"a"', b':1}\n\n{"b":2}\n{"c"', b"", b':3}\n{"d":4}')
    assert list(_lines(body)) == [b'{"a":1}', b'{"b":2}', b'{"c":3}', b'{"d":4}']  # type: ignore[arg-type]
    endless = Chunks(*[b"x" * (1 << 20)] * (WATCH_LINE_LIMIT // (1 << 20) + 1))
    with pytest.raises(ValueError, match="watch event longer"):
        list(_lines(endless))  # type: ignore[arg-type]
