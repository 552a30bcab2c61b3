"""A storm of verifications against one real router process: its health checks keep answering.

Each verification holds a request (and a gunicorn thread) while it watches the acted-on object.
With the chart's settings (threads, containerConcurrency → ROUTER_MAX_VERIFICATIONS) the router
runs at most that many watches, answers the rest 503 at once (the broker retries them), and
keeps threads free for `/healthz`: the kubelet's liveness probe never sees a starved pod.

The router is the real functions-framework/gunicorn process; the fake Kubernetes API holds the
watches open (the crash-looping Deployment never heals).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.context import ObjectRef
from orchestrator.envelope import Outgoing, to_binary
from orchestrator.events import ACTION_COMPLETED, ActionCompleted
from orchestrator.plan import Action, ActionResult
from tests import keys
from tests.fakes import kube_objects as ko
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.serving import free_port, wait_until
from tests.functional.helm_support import chart_values
from tests.functional.router_support import alert

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
VERIFY_SECONDS = 10


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as fake:
        ko.crashlooping_deployment().load(fake)
        yield fake


def _router(api: FakeKubeAPI, tmp_path: Path, *, threads: int,
            max_verifications: int) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ROUTER_", "KUBE", "THREADS"))}
    env.update(HOME=str(tmp_path), THREADS=str(threads),
               ROUTER_KUBECONFIG=api.write_kubeconfig(str(tmp_path / "kubeconfig")),
               ROUTER_IN_CLUSTER="false", ROUTER_MAX_VERIFICATIONS=str(max_verifications),
               ROUTER_VERIFY_TIMEOUT_SECONDS=str(VERIFY_SECONDS),
               ROUTER_VERIFY_SETTLE_SECONDS="1", **keys.env("router"))
    log = (tmp_path / "router.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "functions_framework", "--target", "handle",
                             "--source", str(ROOT / "functions/router/main.py"),
                             "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def healthy() -> bool:
            assert proc.poll() is None, (tmp_path / "router.log").read_text()[-2000:]
            try:
                return httpx.get(url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=30, what="the router to answer /healthz")
        yield url
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)
        log.close()


def _completed(i: int) -> tuple[dict[str, str], bytes]:
    target = ObjectRef(kind="Deployment", name="checkout", namespace="shop")
    result = ActionResult(action=Action(type="rollout_restart", target=target),  # type: ignore[arg-type]
                          outcome="applied", dry_run="accepted (dryRun=All)",
                          api_result="200 OK")
    data = ActionCompleted(incident_key=f"inc-{i}", alert=alert({"namespace": "shop"}),
                           plan_id=f"plan-{i}", mode="enforce", results=[result])  # type: ignore[arg-type]
    headers, body = to_binary(Outgoing(ACTION_COMPLETED, f"done-{i}", "executor", f"inc-{i}",
                                       data, partition_key="shop/Deployment/checkout"))
    return keys.seal(headers, body), body  # the router verifies the executor signed it


def _storm(url: str, count: int) -> tuple[list[threading.Thread], dict[int, int]]:
    statuses: dict[int, int] = {}

    def post(i: int) -> None:
        headers, body = _completed(i)
        try:
            statuses[i] = httpx.post(url + "/", headers=headers, content=body,
                                     timeout=VERIFY_SECONDS + 30).status_code
        except httpx.HTTPError:
            statuses[i] = 0

    threads = [threading.Thread(target=post, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    return threads, statuses


def _health_during(url: str, seconds: float) -> list[float]:
    """Probe /healthz as the kubelet would (1 s timeout here, stricter than the chart's 5 s)
    for `seconds`: the time each probe took, inf for one that failed."""
    took: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        try:
            ok = httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            ok = False
        took.append(time.monotonic() - start if ok else float("inf"))
        time.sleep(0.1)
    return took


def test_health_answers_throughout_a_storm_of_verifications(api: FakeKubeAPI,
                                                            tmp_path: Path) -> None:
    router = chart_values()["router"]
    cc, threads = router["containerConcurrency"], router["threads"]
    assert cc > 0 and threads >= cc + 2
    for url in _router(api, tmp_path, threads=threads, max_verifications=cc):
        # Three times what Knative would let into the pod: the local broker has no queue-proxy.
        storm, statuses = _storm(url, 3 * threads)
        api.wait_for_watchers(cc, timeout=20)
        took = _health_during(url, VERIFY_SECONDS / 2)
        assert api.watchers == cc, "the router watched more than its bound"
        assert max(took) < 1.0, f"/healthz starved: {took}"
        for t in storm:
            t.join(VERIFY_SECONDS + 40)
        codes = sorted(statuses.values())
        # cc watches ran to their deadline (escalated: 200 + reply event); the rest were
        # refused at once with 503, which the broker retries with backoff.
        assert codes.count(200) == cc, codes
        assert codes.count(503) == 3 * threads - cc, codes


def test_without_the_bound_the_storm_starves_health(api: FakeKubeAPI, tmp_path: Path) -> None:
    """The defect the bound fixes (and proof that the probe above can fail): as many watches
    as threads leave none for the probe."""
    threads = chart_values()["router"]["threads"]
    for url in _router(api, tmp_path, threads=threads, max_verifications=threads):
        _storm(url, threads)
        api.wait_for_watchers(threads, timeout=20)
        took = _health_during(url, 2)
        assert min(took) == float("inf"), took
