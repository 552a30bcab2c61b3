"""The console's MCP server, measured beside the plain HTTP API in the same run.

- cold start: spawn → first answer, for a hello-world function, the console answering
  `GET /api/incidents` (the MCP SDK not loaded), and the console answering an MCP `initialize`
  at `/mcp` as its very first request (the SDK loaded then); and, steadier than whole spawns on
  a busy machine, the import time of the console's modules next to that of the SDK and the
  server on top (what a console that never serves MCP does not pay);
- tool latency on a warm console holding `--incidents` incidents awaiting approval, every tool
  through the SDK's own client (one session per token, streamable HTTP), median and p95 over
  `--calls` calls, next to the HTTP API's counterpart where there is one: `list_incidents` /
  `GET /api/incidents`, `get_incident` / `GET /api/incidents/KEY`, `list_pending_approvals` /
  `GET /api/approvals`, `approve` / `POST /api/approvals/PLAN/approve` (each plan decided once:
  half through each, as the person a personal token names); `explain_refusal`,
  `search_runbooks` and `who_am_i` alone.
Usage: .venv/bin/python bench/mcp_bench.py [--runs N] [--calls N] [--incidents N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    ROOT,
    accepting_sink,
    first_answer,
    free_port,
    hello_source,
    median_of,
    spawn,
)
from tests import keys  # noqa: E402
from tests.functional.console_support import Story, wire  # noqa: E402

TOKEN = "bench-console-token"
APPROVER_TOKEN = "bench-approver-token"
CONSOLE = ROOT / "functions/console/main.py"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "1"}}}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ALICE = {"Authorization": f"Bearer {APPROVER_TOKEN}"}


def console_env(audit: Path, broker: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")}
    # The console signs what it emits and checks who signed what it is delivered: the test keys,
    # which `seed` signs the incidents' events with.
    return {**env, **keys.env("console"), "CONSOLE_AUDIT_DIR": str(audit),
            "CONSOLE_API_TOKEN": TOKEN, "CONSOLE_BROKER_URL": broker,
            "CONSOLE_APPROVERS": "alice@example.com",
            "CONSOLE_APPROVER_TOKENS": json.dumps({APPROVER_TOKEN: "alice@example.com"})}


def cold_starts(runs: int, env: dict[str, str]) -> list[tuple[str, float, list[float]]]:
    def hello(client: httpx.Client, url: str) -> httpx.Response:
        return client.get(url + "/").raise_for_status()

    def api(client: httpx.Client, url: str) -> httpx.Response:
        return client.get(url + "/api/incidents", headers=AUTH).raise_for_status()

    def mcp(client: httpx.Client, url: str) -> httpx.Response:
        return client.post(url + "/mcp", json=INIT, headers={
            **AUTH, "accept": "application/json, text/event-stream"}).raise_for_status()

    rows = []
    for name, source, request in (("hello-world", hello_source(), hello),
                                  ("console /api", CONSOLE, api),
                                  ("console /mcp", CONSOLE, mcp)):
        med, all_runs = median_of(runs, lambda s=source, r=request: first_answer(s, env, r))
        rows.append((name, med, all_runs))
    return rows


LOAD = """
import sys, time
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import functions_framework, orchestrator.console.service, orchestrator.console.api
import orchestrator.console.web
t1 = time.perf_counter()
from orchestrator.console.mcp import http, server
server.build()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def load_costs(runs: int) -> tuple[list[float], list[float]]:
    """Seconds to import the console's own modules, and then the MCP SDK and its server, each in
    a fresh interpreter: the second is what a console never asked for MCP does not pay."""
    console, extra = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", LOAD, str(ROOT)], capture_output=True,
                             text=True, check=True).stdout.split()
        console.append(float(out[0]))
        extra.append(float(out[1]))
    return console, extra


def first_requests(runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    """Seconds of the first request on a console that is up (its health answered): what the
    first `/api` call and the first `/mcp` call add to a cold start, without the spawn's noise."""
    got: dict[str, list[float]] = {"/api/incidents": [], "/mcp": []}
    for _ in range(runs):
        for path in got:
            port = free_port()
            proc = spawn(CONSOLE, port, env)
            url = f"http://127.0.0.1:{port}"
            try:
                first_answer_wait(url)
                with httpx.Client(trust_env=False, timeout=30, headers=AUTH) as client:
                    t = time.perf_counter()
                    if path == "/mcp":
                        client.post(url + path, json=INIT, headers={
                            "accept": "application/json, text/event-stream"}).raise_for_status()
                    else:
                        client.get(url + path).raise_for_status()
                    got[path].append(time.perf_counter() - t)
            finally:
                proc.terminate()
                proc.wait(10)
    return got


def timed(n: int, call: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


async def timed_async(n: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t)
    return out


def latencies(url: str, seeded: list[tuple[str, str]], calls: int) -> dict[str, list[float]]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    key = seeded[-1][0]
    half = len(seeded) // 2
    with httpx.Client(headers=AUTH, trust_env=False, timeout=30) as client:
        client.get(f"{url}/api/incidents").raise_for_status()  # warm
        got = {"api list": timed(calls, lambda: client.get(
                   f"{url}/api/incidents", params={"limit": "50"}).raise_for_status()),
               "api get": timed(calls, lambda: client.get(
                   f"{url}/api/incidents/{key}").raise_for_status()),
               "api pending": timed(calls, lambda: client.get(
                   f"{url}/api/approvals").raise_for_status())}
        plans = iter(plan for _, plan in seeded[:half])
        got["api approve"] = timed(half, lambda: client.post(
            f"{url}/api/approvals/{next(plans)}/approve", json={},
            headers=ALICE).raise_for_status())

    async def session(token: dict[str, str], work: Callable[[ClientSession], Awaitable[None]]
                      ) -> None:
        async with httpx.AsyncClient(headers=token, trust_env=False, timeout=30) as http, \
                streamable_http_client(f"{url}/mcp", http_client=http) as (r, w, _), \
                ClientSession(r, w) as s:
            await s.initialize()
            await work(s)

    def caller(s: ClientSession, name: str,
               args: dict[str, object]) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            res = await s.call_tool(name, args)
            if res.isError:
                raise RuntimeError(res.content)
        return call

    async def reads(s: ClientSession) -> None:
        tools = {"list_incidents": {"limit": 50}, "get_incident": {"incident_key": key},
                 "list_pending_approvals": {}, "explain_refusal": {"incident_key": key},
                 "search_runbooks": {"query": "pods crash looping after a deploy"},
                 "who_am_i": {}}
        for name, args in tools.items():
            await caller(s, name, args)()  # warm (search_runbooks loads the retriever)
            got[f"mcp {name}"] = await timed_async(calls, caller(s, name, args))

    async def decisions(s: ClientSession) -> None:
        out = []
        for _, plan in seeded[half:]:
            out += await timed_async(1, caller(s, "approve", {"plan_id": plan}))
        got["mcp approve"] = out

    anyio.run(session, AUTH, reads)
    anyio.run(session, ALICE, decisions)
    return got


def seed(url: str, n: int) -> list[tuple[str, str]]:
    """`n` incidents awaiting approval, delivered as the broker would: (key, plan id) each."""
    out = []
    with httpx.Client(trust_env=False, timeout=30) as client:
        for i in range(n):
            story = Story(fingerprint=f"{i + 1:08x}9a3cf2d1")  # plan ids: its first 8
            for event in (story.alert_received(), story.context_enriched(),
                          story.plan_proposed(), story.approval_requested()):
                headers, body = wire(event)
                client.post(f"{url}/events", content=body, headers=headers).raise_for_status()
            out.append((story.key, story.plan.plan_id))
    return out


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--incidents", type=int, default=50)
    args = parser.parse_args()
    sink = accepting_sink()
    broker = f"http://127.0.0.1:{sink.server_address[1]}/"
    audit = Path(tempfile.mkdtemp(prefix="bench-mcp-")) / "audit"
    env = console_env(audit, broker)

    rows = cold_starts(args.runs, env)
    base = rows[0][1]
    print(f"{'cold start':<16}{'median s':>10}{'ratio':>8}  runs")
    for name, med, runs in rows:
        print(f"{name:<16}{med:>10.3f}{med / base:>8.2f}  {' '.join(f'{x:.3f}' for x in runs)}")

    firsts = first_requests(args.runs, env)
    print(f"\n{'first request on a started console':<36}{'median s':>9}  runs")
    for path, xs in firsts.items():
        print(f"{path:<36}{statistics.median(xs):>9.3f}  {' '.join(f'{x:.3f}' for x in xs)}")

    own, extra = load_costs(max(args.runs, 5))
    print(f"\nimporting the console's modules   median {statistics.median(own):.3f} s")
    print(f"then the MCP SDK + server.build() median {statistics.median(extra):.3f} s "
          f"({statistics.median(extra) / statistics.median(own):.2f}x the console's own)")

    port = free_port()
    proc = spawn(CONSOLE, port, env)
    url = f"http://127.0.0.1:{port}"
    try:
        first_answer_wait(url)
        got = latencies(url, seed(url, args.incidents), args.calls)
    finally:
        proc.terminate()
        proc.wait(10)
        sink.shutdown()
    print(f"\n{'latency (' + str(args.incidents) + ' incidents)':<28}{'p50 ms':>8}{'p95 ms':>8}"
          f"{'x API':>7}")
    pairs = (("mcp list_incidents", "api list"), ("mcp get_incident", "api get"),
             ("mcp list_pending_approvals", "api pending"), ("mcp approve", "api approve"),
             ("mcp explain_refusal", None), ("mcp search_runbooks", None), ("mcp who_am_i", None))
    for mine, theirs in pairs:
        for name in (theirs, mine) if theirs else (mine,):
            xs = got[name]
            ratio = (f"{statistics.median(xs) / statistics.median(got[theirs]):>7.2f}"
                     if theirs else "")
            print(f"{name:<28}{statistics.median(xs) * 1000:>8.2f}{p95(xs) * 1000:>8.2f}{ratio}")


def first_answer_wait(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=5) as client:
        while True:
            try:
                client.get(f"{url}/healthz").raise_for_status()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the console never answered") from None
                time.sleep(0.01)


if __name__ == "__main__":
    main()
