"""Proxies between the functions and the Kubernetes API (`kube_proxy`), against a real forward
proxy: kubectl's variables and rules, CONNECT tunnels for HTTPS, absolute form for HTTP."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.adapters.kube import Connection
from orchestrator.adapters.kube_proxy import bypasses
from orchestrator.adapters.kube_transport import Endpoint
from orchestrator.errors import TransientError
from tests.fakes import kube_objects as ko
from tests.fakes.forward_proxy import ForwardProxy
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.tls_proxy import TLSProxy
from tests.functional.kube_support import NAME, ServerFor, b64, connect_with, name_of
from tests.functional.router_support import fake_api


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    for fake in fake_api():
        fake.add(ko.pod("web-0", "shop"))
        yield fake


def test_https_goes_through_the_environments_proxy_in_a_connect_tunnel(
        api: FakeKubeAPI, named_tls: tuple[TLSProxy, Path], monkeypatch: pytest.MonkeyPatch,
        no_proxy_env: None, server_for: ServerFor) -> None:
    tls, cert = named_tls
    forward = ForwardProxy({f"{NAME}:6443": tls.port})
    try:
        monkeypatch.setenv("HTTPS_PROXY", f"http://ops:s%40cret@127.0.0.1:{forward.port}")
        server = server_for(Endpoint(f"https://{NAME}:6443", ca_file=str(cert)))
        assert name_of(server) == "web-0"
        (seen,) = forward.seen
        assert (seen.method, seen.target) == ("CONNECT", f"{NAME}:6443")
        assert seen.authorization == "Basic " + b64(b"ops:s@cret")
        monkeypatch.setenv("NO_PROXY", "localhost,.example.test")
        direct = server_for(Endpoint(f"https://{NAME}:6443", ca_file=str(cert)))
        with pytest.raises(TransientError, match="unreachable"):  # not resolvable directly
            name_of(direct)
        assert len(forward.seen) == 1
    finally:
        forward.close()


def test_an_ipv6_api_server_is_tunnelled_to_in_brackets(
        api: FakeKubeAPI, named_tls: tuple[TLSProxy, Path], monkeypatch: pytest.MonkeyPatch,
        no_proxy_env: None, server_for: ServerFor) -> None:
    tls, cert = named_tls
    forward = ForwardProxy({"[fd00:10:96::1]:443": tls.port})
    try:
        monkeypatch.setenv("HTTPS_PROXY", forward.url)
        server = server_for(Endpoint("https://[fd00:10:96::1]:443", ca_file=str(cert),
                                  tls_server_name=NAME))
        assert name_of(server) == "web-0"
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
        conn = connect_with(tmp_path / "config", {"server": f"http://{NAME}:8080",
                                              "proxy-url": proxy_url}, user, connections)
        assert conn.server is not None
        assert name_of(conn.server) == "web-0"
        assert [(s.method, s.target, s.authorization) for s in forward.seen] == [
            ("GET", f"http://{NAME}:8080/api/v1/namespaces/shop/pods/web-0",
             "Basic " + b64(b"ops:pw"))]
        assert "proxy-authorization" not in api.requests[-1].headers
        assert api.requests[-1].headers["authorization"] == "Bearer t"
    finally:
        forward.close()


def test_an_unusable_proxy_is_a_connection_problem_not_a_crash(
        tmp_path: Path, connections: list[Connection]) -> None:
    conn = connect_with(tmp_path / "config", {"server": "https://a:6443",
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
