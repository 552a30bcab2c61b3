"""A connection imports only the `kubernetes` modules it needs, and nobody else notices.

`orchestrator.adapters.kube_import` defers the eager package `__init__`s of the client (cold
start). Each test runs in a fresh interpreter, since this one imported `kubernetes` long ago:
there, a lean connection is checked to import no models, to read and write through the real
client, and to leave code that imports `kubernetes` the normal way exactly what it would have
had without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.tls_proxy import TLSProxy, self_signed
from tests.functional.router_support import fake_api

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["kubernetes", "kubernetes.client", "kubernetes.client.models", "kubernetes.config"]

# Every script starts here: helpers, then (after `before`) a connection made the way the
# functions make theirs, on a kubeconfig or in-cluster.
PRELUDE = """
import json, sys, types
from pathlib import Path
from orchestrator.adapters.kube import connect
from orchestrator.adapters.kube_import import is_deferred
from orchestrator.adapters.kube_reads import KubeReader

PACKAGES = ["kubernetes", "kubernetes.client", "kubernetes.client.models", "kubernetes.config"]
args = json.loads(sys.argv[1])

def loaded(prefix):
    return sorted(m for m in sys.modules if m == prefix or m.startswith(prefix + "."))

def report(**facts):
    print(json.dumps(facts))
"""
CONNECT = """
if "service_account_dir" in args:
    args["service_account_dir"] = Path(args["service_account_dir"])
conn = connect(home=Path("/nonexistent-home"), **args)
assert conn.available, conn.problem
"""


def run(script: str, *, before: str = "", **connect_args: Any) -> dict[str, Any]:
    """Run `script` in a fresh interpreter after PRELUDE, `before` and CONNECT; its facts."""
    env = {k: v for k, v in os.environ.items()
           if k != "KUBECONFIG" and not k.startswith(("KUBERNETES_", "ROUTER_"))}
    env["PYTHONPATH"] = str(ROOT)
    code = "\n".join((PRELUDE, before, CONNECT, script))
    done = subprocess.run([sys.executable, "-c", code, json.dumps(connect_args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    facts: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return facts


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    yield from fake_api()


@pytest.fixture
def kubeconfig(api: FakeKubeAPI, tmp_path: Path) -> str:
    api.add(ko.pod("web-0", "shop"))
    return api.write_kubeconfig(str(tmp_path / "kubeconfig"))


def test_a_connection_reads_without_the_models_or_the_apis(kubeconfig: str) -> None:
    facts = run("""
reader = KubeReader(conn.api_client)
pod = reader.get("Pod", "shop", "web-0")
pods = reader.list("Pod", "shop")
report(source=conn.source, pod=pod["metadata"]["name"], listed=len(pods.items),
       deferred=[is_deferred(p) for p in PACKAGES],
       models=len(loaded("kubernetes.client.models")) - 1,
       apis=loaded("kubernetes.client.api"), others=loaded("kubernetes.dynamic")
       + loaded("kubernetes.watch") + loaded("kubernetes.stream"))
""", kubeconfig=kubeconfig, in_cluster=False)
    assert (facts["source"], facts["pod"], facts["listed"]) == ("kubeconfig", "web-0", 1)
    assert facts["deferred"] == [True] * 4
    assert (facts["models"], facts["apis"], facts["others"]) == (0, [], [])


def test_normal_kubernetes_code_after_a_lean_connection_gets_the_whole_package(
        kubeconfig: str) -> None:
    # What the executor's, the console's or a test's code may do in the same process.
    facts = run("""
import kubernetes
from kubernetes import client, config, watch
from kubernetes.client import CoreV1Api, V1Pod
from kubernetes.client.rest import ApiException

pod = CoreV1Api(conn.api_client).read_namespaced_pod("web-0", "shop")
try:
    client.CoreV1Api(conn.api_client).read_namespaced_pod("gone", "shop")
except client.ApiException as e:
    missing = e.status
config.load_kube_config(config_file=args["kubeconfig"])  # the package's own default client
listed = kubernetes.client.CoreV1Api().list_namespaced_pod("shop")
report(typed=isinstance(pod, V1Pod) and pod.metadata.name == "web-0", missing=missing,
       listed=[p.metadata.name for p in listed.items], version=kubernetes.__version__,
       same=[client.Configuration is kubernetes.client.configuration.Configuration,
             type(conn.api_client) is client.ApiClient,
             ApiException is client.exceptions.ApiException,
             V1Pod is kubernetes.client.models.v1_pod.V1Pod],
       watch=callable(watch.Watch), plain=[type(sys.modules[p]) is types.ModuleType
                                          for p in PACKAGES])
""", kubeconfig=kubeconfig, in_cluster=False)
    assert facts["typed"] and facts["missing"] == 404 and facts["listed"] == ["web-0"]
    assert facts["version"] == "36.0.3"
    assert facts["same"] == [True] * 4
    assert facts["watch"] and facts["plain"] == [True] * 4


def test_completed_packages_are_the_ones_a_normal_import_makes(kubeconfig: str) -> None:
    touch_all = """
import importlib
for p in PACKAGES:
    dir(importlib.import_module(p))  # listing a package completes it
report(names={p: sorted(vars(sys.modules[p])) for p in PACKAGES}, modules=loaded("kubernetes"))
"""
    lean = run(touch_all, kubeconfig=kubeconfig, in_cluster=False)
    normal = run(touch_all, before="import kubernetes", kubeconfig=kubeconfig, in_cluster=False)
    assert lean["names"] == normal["names"]
    assert lean["modules"] == normal["modules"]


def test_the_executor_writes_through_a_lean_connection(kubeconfig: str) -> None:
    facts = run("""
from orchestrator.adapters.kube_writes import KubeWriter

writer = KubeWriter(conn.api_client, timeout=5)
pod = writer.get("Pod", "shop", "web-0")
patched = writer.patch("Pod", "shop", "web-0", {"metadata": {"labels": {"seen": "yes"}}},
                       patch_type="merge", dry_run=True)
report(pod=pod["metadata"]["name"], dry_run_label=patched["metadata"]["labels"].get("seen"),
       missing=writer.get("Pod", "shop", "gone"),
       models=len(loaded("kubernetes.client.models")) - 1)
""", kubeconfig=kubeconfig, in_cluster=False)
    assert facts == {"pod": "web-0", "dry_run_label": "yes", "missing": None, "models": 0}


def test_in_cluster_does_not_even_load_the_kubeconfig_loader(api: FakeKubeAPI,
                                                             tmp_path: Path) -> None:
    # kube_config brings google-auth, oauthlib and yaml: a Pod's router needs none of them.
    cert, key = self_signed(tmp_path)
    proxy = TLSProxy(api.port, cert, key)
    try:
        sa = tmp_path / "sa"
        sa.mkdir()
        (sa / "token").write_text("sa-token")
        (sa / "ca.crt").write_bytes(cert.read_bytes())
        api.add(ko.pod("web-0", "shop"))
        facts = run("""
pod = KubeReader(conn.api_client).get("Pod", "shop", "web-0")
report(source=conn.source, pod=pod["metadata"]["name"],
       heavy=[m for m in ("kubernetes.config.kube_config", "google.auth", "oauthlib", "yaml",
                          "kubernetes.client.api") if m in sys.modules])
""", service_host="127.0.0.1", service_port=str(proxy.port), service_account_dir=str(sa))
    finally:
        proxy.close()
    assert facts == {"source": "in-cluster", "pod": "web-0", "heavy": []}


def test_nothing_is_deferred_when_kubernetes_was_imported_first(kubeconfig: str) -> None:
    facts = run("""
from orchestrator.adapters.kube_import import defer_package_inits
report(pod=KubeReader(conn.api_client).get("Pod", "shop", "web-0")["metadata"]["name"],
       again=defer_package_inits(), deferred=[is_deferred(p) for p in PACKAGES],
       models=len(loaded("kubernetes.client.models")))
""", before="import kubernetes.client.exceptions", kubeconfig=kubeconfig, in_cluster=False)
    assert facts["pod"] == "web-0" and facts["again"] is False
    assert facts["deferred"] == [False] * 4 and facts["models"] > 700


def test_threads_reading_at_once_complete_a_package_once(kubeconfig: str) -> None:
    facts = run("""
import threading
package = sys.modules["kubernetes.client"]
loader = package.__spec__.loader
runs = []
real_exec = loader.exec_module
loader.exec_module = lambda module: (runs.append(module.__name__), real_exec(module))[1]
start = threading.Barrier(8)
seen, errors = [], []

def read():
    start.wait()
    try:
        seen.append(id(package.CoreV1Api))
    except Exception as e:
        errors.append(repr(e))

threads = [threading.Thread(target=read) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
report(runs=runs, distinct=len(set(seen)), reads=len(seen), errors=errors)
""", kubeconfig=kubeconfig, in_cluster=False)
    assert facts == {"runs": ["kubernetes.client"], "distinct": 1, "reads": 8, "errors": []}
