"""A plain kubeconfig is read without the client's loader (cold start), to the same effect.

For each kind the reader handles, the connection's `Endpoint` it makes is compared with the
`Configuration` the client's own loader builds from the same file; over TLS it connects for
real; what it does not handle (plugins, several files, broken files) goes to the loader.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.configuration import Configuration
from kubernetes.config.kube_config import load_kube_config

from orchestrator.adapters.kube import Connection, connect
from orchestrator.adapters.kube_reads import KubeReader
from orchestrator.adapters.kube_transport import Endpoint
from orchestrator.adapters.kubeconfig import read_plain
from orchestrator.errors import TransientError
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.tls_proxy import TLSProxy, self_signed
from tests.functional.kube_support import b64
from tests.functional.router_support import fake_api

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["token over http", "ca data, client certificate data",
         "ca and client certificate as relative paths", "token file", "token before token file",
         "user and password", "empty token, then user and password",
         "tls server name, verify stated", "no credentials"]


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    yield from fake_api()


def kubeconfig(path: Path, cluster: dict[str, Any], user: dict[str, Any] | None,
               *, namespace: str | None = "shop", extra_context: bool = False) -> str:
    context: dict[str, Any] = {"cluster": "c"}
    if user is not None:
        context["user"] = "u"
    if namespace:
        context["namespace"] = namespace
    contexts = [{"name": "main", "context": context}]
    if extra_context:
        contexts.append({"name": "other", "context": {"cluster": "c", "user": "u",
                                                      "namespace": "elsewhere"}})
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "main",
           "clusters": [{"name": "c", "cluster": cluster}], "contexts": contexts,
           "users": [{"name": "u", "user": user}] if user is not None else []}
    path.write_text(json.dumps(doc) if path.suffix == ".json" else _yaml(doc))
    return str(path)


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(doc)


def _content(name: str | None) -> bytes | None:
    return Path(name).read_bytes() if name else None


def _loader_sets(cfg: Any) -> dict[str, Any]:
    """What a connection takes from the loader's Configuration, file contents for names. (The
    loader keeps a token file's line end, which no client can send in a header: the reader
    strips it, as client-go does, so the comparison does too.)"""
    authorization = cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
    return {"host": cfg.host, "authorization": authorization and authorization.rstrip("\n"),
            "ca": _content(cfg.ssl_ca_cert), "cert": _content(cfg.cert_file),
            "key": _content(cfg.key_file), "verify": cfg.verify_ssl,
            "tls_server_name": cfg.tls_server_name}


def _endpoint_sets(endpoint: Endpoint) -> dict[str, Any]:
    return {"host": endpoint.host, "authorization": endpoint.authorization(),
            "ca": _content(endpoint.ca_file), "cert": _content(endpoint.cert_file),
            "key": _content(endpoint.key_file), "verify": endpoint.verify,
            "tls_server_name": endpoint.tls_server_name}


def _kinds(folder: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    ca, key = self_signed(folder)
    (folder / "certs").mkdir()
    (folder / "certs" / "ca.crt").write_bytes(ca.read_bytes())
    (folder / "token").write_text("token-from-a-file\n")
    https = "https://api.example.test:6443/"
    return {
        "token over http": ({"server": "http://127.0.0.1:8080"}, {"token": "t0k3n"}),
        "ca data, client certificate data": (
            {"server": https, "certificate-authority-data": b64(ca.read_bytes())},
            {"client-certificate-data": b64(ca.read_bytes()),
             "client-key-data": b64(key.read_bytes())}),
        "ca and client certificate as relative paths": (
            {"server": https, "certificate-authority": "certs/ca.crt"},
            {"client-certificate": str(ca), "client-key": str(key)}),
        "token file": ({"server": https, "certificate-authority": "certs/ca.crt"},
                       {"tokenFile": "token"}),
        "token before token file": ({"server": https}, {"token": "wins", "tokenFile": "token"}),
        "user and password": ({"server": https, "insecure-skip-tls-verify": True},
                              {"username": "admin", "password": "p@ss:word"}),
        "empty token, then user and password": ({"server": https},
                                                {"token": "", "username": "a", "password": "b"}),
        "tls server name, verify stated": (
            {"server": https, "tls-server-name": "kubernetes.default",
             "insecure-skip-tls-verify": False}, {"token": "t"}),
        "no credentials": ({"server": https}, {}),
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_the_reader_sets_what_the_client_loader_sets(kind: str, suffix: str,
                                                     tmp_path: Path) -> None:
    cluster, user = _kinds(tmp_path)[kind]
    path = kubeconfig(tmp_path / f"config{suffix}", cluster, user)
    plain = read_plain([path], None)
    assert plain is not None, "a plain kubeconfig is read here"
    theirs = Configuration()
    load_kube_config(config_file=path, client_configuration=theirs, persist_config=False)
    assert _endpoint_sets(plain.endpoint) == _loader_sets(theirs)
    assert (plain.context, plain.namespace) == ("main", "shop")


def test_a_named_context_is_used_and_its_namespace_left_to_the_caller(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", {"server": "http://127.0.0.1:1"}, {"token": "t"},
                      extra_context=True)
    plain = read_plain([path], "other")
    assert plain is not None and plain.context == "other"
    assert plain.namespace is None, "as before: a named context's namespace is not taken"
    current = read_plain([path], None)
    assert current is not None and current.namespace == "shop"


@pytest.mark.parametrize("user", [
    {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "true"}},
    {"auth-provider": {"name": "oidc", "config": {}}},
    {"token": "t", "as": "someone-else"},
])
def test_plugins_and_unknown_fields_are_left_to_the_client_loader(user: dict[str, Any],
                                                                  tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", {"server": "https://a:6443"}, user)
    assert read_plain([path], None) is None


def test_what_is_not_plain_or_not_whole_is_left_to_the_client_loader(tmp_path: Path) -> None:
    good = kubeconfig(tmp_path / "good", {"server": "http://127.0.0.1:1"}, {"token": "t"})
    assert read_plain([good], None) is not None
    assert read_plain([good, good], None) is None, "merging several files is the loader's"
    assert read_plain([good], "no-such-context") is None
    assert read_plain([str(tmp_path / "missing")], None) is None
    proxied = kubeconfig(tmp_path / "proxied",
                         {"server": "https://a:6443", "proxy-url": "http://proxy:3128"},
                         {"token": "t"})
    found = read_plain([proxied], None)
    assert found is not None and found.endpoint.proxy == "http://proxy:3128", "kubectl's proxy-url"
    no_user = kubeconfig(tmp_path / "no-user", {"server": "http://127.0.0.1:1"}, None)
    assert read_plain([no_user], None) is None
    missing_ca = kubeconfig(tmp_path / "missing-ca",
                            {"server": "https://a:6443", "certificate-authority": "nope.crt"},
                            {"token": "t"})
    assert read_plain([missing_ca], None) is None
    (tmp_path / "garbage").write_text("clusters: [unclosed\n")
    assert read_plain([str(tmp_path / "garbage")], None) is None


def test_json_is_read_as_json_and_a_yaml_flow_mapping_still_as_yaml(tmp_path: Path) -> None:
    import yaml

    path = kubeconfig(tmp_path / "config.json", {"server": "http://127.0.0.1:1"}, {"token": "t"})
    doc = json.loads(Path(path).read_text())
    flow = tmp_path / "flow.yaml"
    flow.write_text(yaml.safe_dump(doc, default_flow_style=True))
    assert flow.read_text().startswith("{") and "apiVersion: v1" in flow.read_text()
    assert read_plain([str(flow)], None) == read_plain([path], None) is not None
    (tmp_path / "broken.json").write_text('{"clusters": [')
    assert read_plain([str(tmp_path / "broken.json")], None) is None
    code = f"""
import json, sys
from orchestrator.adapters.kube_transport import Endpoint
from orchestrator.adapters.kubeconfig import read_plain
plain = read_plain([{path!r}], None)
print(json.dumps({{"host": plain.endpoint.host, "yaml": "yaml" in sys.modules}}))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "host": "http://127.0.0.1:1", "yaml": False}, "a JSON kubeconfig costs no PyYAML import"


def test_over_tls_it_trusts_exactly_the_named_ca(api: FakeKubeAPI, tls: tuple[TLSProxy, Path],
                                                 tmp_path: Path,
                                                 connections: list[Connection]) -> None:
    proxy, ca = tls
    api.add(ko.pod("web-0", "shop"))
    server = {"server": f"https://127.0.0.1:{proxy.port}",
              "certificate-authority-data": b64(ca.read_bytes())}
    path = kubeconfig(tmp_path / "config", server, {"token": "plain-token"})
    conn = connect(home=tmp_path, kubeconfig=path, in_cluster=False)
    connections.append(conn)
    assert (conn.source, conn.namespace) == ("kubeconfig", "shop")
    assert KubeReader(conn.server).get("Pod", "shop", "web-0")["metadata"]["name"] == "web-0"
    (req,) = api.find_requests("GET", "/pods/web-0$")
    assert req.headers["authorization"] == "Bearer plain-token"
    (tmp_path / "other").mkdir()
    other, _ = self_signed(tmp_path / "other")
    untrusted = kubeconfig(tmp_path / "untrusted", {**server, "certificate-authority-data":
                                                    b64(other.read_bytes())}, {"token": "t"})
    conn = connect(home=tmp_path, kubeconfig=untrusted, in_cluster=False)
    connections.append(conn)
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        KubeReader(conn.server, timeout=3).get("Pod", "shop", "web-0")


def test_an_exec_plugin_still_connects_through_the_client_loader(
        api: FakeKubeAPI, tmp_path: Path, connections: list[Connection]) -> None:
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": "from-the-plugin"}}
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
                     "interactiveMode": "Never"}}
    path = kubeconfig(tmp_path / "config", {"server": api.url}, user)
    conn = connect(home=tmp_path, kubeconfig=path, in_cluster=False)
    connections.append(conn)
    api.add(ko.pod("web-0", "shop"))
    KubeReader(conn.server).get("Pod", "shop", "web-0")
    assert api.find_requests("GET", "/pods/web-0$")[0].headers["authorization"] == \
        "Bearer from-the-plugin"


def test_a_plain_kubeconfig_connects_without_the_kubernetes_client_or_its_libraries(
        api: FakeKubeAPI, tmp_path: Path) -> None:
    api.add(ko.pod("web-0", "shop"))
    path = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
    code = f"""
import json, sys
from orchestrator.adapters.kube import connect
from orchestrator.adapters.kube_reads import KubeReader
conn = connect(kubeconfig={path!r}, in_cluster=False)
pod = KubeReader(conn.server).get("Pod", "shop", "web-0")
print(json.dumps({{"pod": pod["metadata"]["name"], "loaded": sorted(
    m for m in ("kubernetes", "google.auth", "requests_oauthlib", "oauthlib", "requests",
                "urllib3", "yaml") if m in sys.modules)}}))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts == {"pod": "web-0", "loaded": []}


@pytest.mark.parametrize(("value", "verify"), [(True, False), (False, True), ("true", True),
                                               ("false", True), (None, True)])
def test_only_a_real_true_turns_certificate_checks_off(value: Any, verify: bool,
                                                       tmp_path: Path) -> None:
    cluster: dict[str, Any] = {"server": "https://a:6443"}
    if value is not None:
        cluster["insecure-skip-tls-verify"] = value
    plain = read_plain([kubeconfig(tmp_path / "config.json", cluster, {"token": "t"})], None)
    assert plain is not None and plain.endpoint.verify is verify
