"""The Kubernetes transport (`kube_transport`) against real TLS, servers that hang up and the
fake API server: what the kubernetes client's urllib3 transport did for the functions, kept.
Proxies: test_kube_proxy.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from orchestrator.adapters.kube import Connection
from orchestrator.adapters.kube_errors import NotFound
from orchestrator.adapters.kube_reads import KubeReader
from orchestrator.adapters.kube_transport import Endpoint, Fixed, TokenFile
from orchestrator.adapters.kube_writes import KubeWriter
from orchestrator.errors import PermanentError, TransientError
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.serving import serve_in_thread, wait_until
from tests.fakes.tls_proxy import TLSProxy, self_signed
from tests.functional.kube_support import NAME, ServerFor, b64, connect_with, name_of
from tests.functional.router_support import fake_api

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    for fake in fake_api():
        fake.add(ko.pod("web-0", "shop"))
        yield fake


# ---- the pool -------------------------------------------------------------------------------


def test_requests_share_one_pooled_connection(api: FakeKubeAPI, tls: tuple[TLSProxy, Path],
                                              server_for: ServerFor) -> None:
    proxy, ca = tls
    server = server_for(Endpoint(f"https://127.0.0.1:{proxy.port}", ca_file=str(ca)))
    for _ in range(5):
        assert name_of(server) == "web-0"
    assert proxy.accepted == 1, "each request opened its own TLS connection"


def test_refusals_keep_the_connection(api: FakeKubeAPI, tls: tuple[TLSProxy, Path],
                                      server_for: ServerFor) -> None:
    proxy, ca = tls
    reader = KubeReader(server_for(Endpoint(f"https://127.0.0.1:{proxy.port}", ca_file=str(ca))), timeout=3)
    for _ in range(5):
        with pytest.raises(NotFound):
            reader.get("Pod", "shop", "gone")
    assert name_of(reader.server) == "web-0"
    assert proxy.accepted == 1, "a 404 cost a new TLS connection"


def test_names_stay_one_path_segment(api: FakeKubeAPI, server_for: ServerFor) -> None:
    reader = KubeReader(server_for(Endpoint(api.url)), timeout=3)
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
        api: FakeKubeAPI, tls: tuple[TLSProxy, Path], server_for: ServerFor) -> None:
    proxy, ca = tls
    server = server_for(Endpoint(f"https://127.0.0.1:{proxy.port}", ca_file=str(ca)))
    writer = KubeWriter(server, timeout=3)
    assert name_of(server) == "web-0"
    proxy.hang_up()
    wait_until(lambda: not proxy._open, what="the proxy closing its connections")
    # A POST is never sent twice, so it must not even start on the dead connection.
    pod = api.get("Pod", "shop", "web-0")
    assert pod is not None
    assert writer.evict("shop", "web-0", uid=pod["metadata"]["uid"], resource_version=None,
                        dry_run=True)
    assert len(api.find_requests("POST", "/pods/web-0/eviction$")) == 1
    assert proxy.accepted == 2


def test_a_timed_out_read_is_not_sent_again(api: FakeKubeAPI, server_for: ServerFor) -> None:
    api.add(ko.pod("slow", "shop"))
    api.delay(r"/pods/slow$", 2)
    reader = KubeReader(server_for(Endpoint(api.url)), timeout=0.3)
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
        server_for: ServerFor) -> None:
    HangsUpOnReuse.received = []
    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), HangsUpOnReuse)) as url:
        server = server_for(Endpoint(url))
        reader, writer = KubeReader(server, timeout=3), KubeWriter(server, timeout=3)
        reader.get("Pod", "shop", "web-0")
        assert reader.get("Pod", "shop", "web-0")["metadata"]["name"] == "web-0"
        assert HangsUpOnReuse.received == ["GET", "GET", "GET"], "resent on a new connection"
        with pytest.raises(TransientError, match="RemoteDisconnected"):
            writer.evict("shop", "web-0", uid="u", resource_version=None, dry_run=False)
        assert HangsUpOnReuse.received == ["GET", "GET", "GET", "POST"], "a POST sent twice"


def test_a_refused_connection_is_transient(server_for: ServerFor) -> None:
    with pytest.raises(TransientError, match="ConnectionRefusedError"):
        KubeReader(server_for(Endpoint("http://127.0.0.1:9"))).get("Pod", "shop", "x")


# ---- TLS ------------------------------------------------------------------------------------


def test_tls_server_name_is_the_name_the_certificate_is_checked_against(
        api: FakeKubeAPI, named_tls: tuple[TLSProxy, Path], server_for: ServerFor) -> None:
    proxy, cert = named_tls
    host = f"https://127.0.0.1:{proxy.port}"
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        name_of(server_for(Endpoint(host, ca_file=str(cert))))
    assert name_of(server_for(Endpoint(host, ca_file=str(cert), tls_server_name=NAME))) == "web-0"


def test_insecure_skips_the_certificate_check_and_only_then(
        api: FakeKubeAPI, tls: tuple[TLSProxy, Path], server_for: ServerFor) -> None:
    proxy, _ = tls
    host = f"https://127.0.0.1:{proxy.port}"
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        name_of(server_for(Endpoint(host)))  # the system's CAs do not know it
    assert name_of(server_for(Endpoint(host, verify=False))) == "web-0"


def test_a_client_certificate_is_presented_from_the_kubeconfig(
        api: FakeKubeAPI, tmp_path: Path, connections: list[Connection]) -> None:
    cert, key = self_signed(tmp_path)
    client_cert, client_key = self_signed(tmp_path, names=("system:admin",), stem="client")
    proxy = TLSProxy(api.port, cert, key, client_ca=client_cert)
    try:
        cluster = {"server": f"https://127.0.0.1:{proxy.port}",
                   "certificate-authority-data": b64(cert.read_bytes())}
        user = {"client-certificate-data": b64(client_cert.read_bytes()),
                "client-key-data": b64(client_key.read_bytes())}
        conn = connect_with(tmp_path / "with-cert", cluster, user, connections)
        assert conn.server is not None and name_of(conn.server) == "web-0"
        bare = connect_with(tmp_path / "without", cluster, {"token": "t"}, connections)
        assert bare.server is not None
        with pytest.raises(TransientError, match="unreachable"):
            name_of(bare.server)
    finally:
        proxy.close()


# ---- credentials ----------------------------------------------------------------------------


def test_a_token_file_is_read_again_once_its_period_has_passed(
        api: FakeKubeAPI, tmp_path: Path, server_for: ServerFor) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    rotating = server_for(Endpoint(api.url, authorization=TokenFile(token, every=0)))
    cached = server_for(Endpoint(api.url, authorization=TokenFile(token, every=3600)))
    name_of(rotating), name_of(cached)
    token.write_text("second\n")  # the kubelet rotated the projected token
    name_of(rotating), name_of(cached)
    seen = [r.headers["authorization"] for r in api.find_requests("GET", "/pods/web-0$")]
    assert seen == ["Bearer first", "Bearer first", "Bearer second", "Bearer first"]
    token.write_text("")  # mid-rotation: the token read before still holds
    name_of(rotating)
    assert api.find_requests("GET", "/pods/web-0$")[-1].headers["authorization"] == \
        "Bearer second"
    fresh = server_for(Endpoint(api.url, authorization=TokenFile(token)))
    with pytest.raises(TransientError, match="empty"):  # nothing read yet: retried later
        name_of(fresh)


def test_a_kubeconfig_token_file_loses_its_line_end_and_a_broken_header_is_never_quoted(
        api: FakeKubeAPI, tmp_path: Path, connections: list[Connection],
        server_for: ServerFor) -> None:
    (tmp_path / "token").write_text("tok-abc\n")  # as `kubectl create token > file` writes it
    conn = connect_with(tmp_path / "config", {"server": api.url}, {"tokenFile": "token"},
                    connections)
    assert conn.server is not None and name_of(conn.server) == "web-0"
    assert api.find_requests("GET", "/pods/web-0$")[-1].headers["authorization"] == \
        "Bearer tok-abc"
    broken = server_for(Endpoint(api.url, authorization=Fixed("Bearer tok-abc\nsecond-line")))
    with pytest.raises(PermanentError, match="line break") as err:
        name_of(broken)
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
    conn = connect_with(tmp_path / "config", {"server": "https://a:6443",
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
