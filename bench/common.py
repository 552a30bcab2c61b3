"""Shared pieces of the benchmarks: spawning a function process and timing its first answer.

Benchmarks print figures next to a baseline measured in the same run (as a ratio); they assert
nothing, since these machines are noisy.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]

HELLO = '''
import functions_framework


@functions_framework.http
def handle(request):
    return "hello", 200
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hello_source() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="bench-hello-"))
    (folder / "main.py").write_text(HELLO)
    return folder / "main.py"


def spawn(source: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "functions_framework", "--target", "handle",
           "--source", str(source), "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def first_answer(source: Path, env: dict[str, str],
                 request: Callable[[httpx.Client, str], httpx.Response],
                 timeout: float = 30.0, cpu: list[float] | None = None) -> float:
    """Seconds from spawn to the first answered real request (any non-5xx status counts only
    when it is the status the request expects: `request` raises otherwise). With `cpu`, the
    CPU seconds the function's processes spent until then are appended to it."""
    timing = first_answer_timed(source, env, request, timeout)
    if cpu is not None:
        cpu.append(timing.cpu)
    return timing.wall


@dataclass(frozen=True)
class Timing:
    wall: float
    """Seconds from spawn to the first answer."""
    cpu: float
    """CPU seconds (user + system) the function's processes had used by then: steadier than
    wall time on a shared machine, since waiting for a core does not count."""


def first_answer_timed(source: Path, env: dict[str, str],
                       request: Callable[[httpx.Client, str], httpx.Response],
                       timeout: float = 30.0) -> Timing:
    """`first_answer`, with the CPU time the function spent getting there."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    proc = spawn(source, port, env)
    try:
        with httpx.Client(timeout=5, trust_env=False) as client:
            while True:
                try:
                    request(client, url)
                    return Timing(time.perf_counter() - start, cpu_seconds(proc.pid))
                except httpx.TransportError:
                    if time.perf_counter() - start > timeout or proc.poll() is not None:
                        raise RuntimeError(f"{source} never answered") from None
                    time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (gunicorn's arbiter and
    its worker), alive or reaped, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime: fields 14-17 of stat(5), counted from after the name.
    ticks = sum(int(x) for x in fields[11:15])
    total = ticks / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += cpu_seconds(int(child))
            except FileNotFoundError:  # it exited meanwhile: its parent's cutime has it
                continue
    return total


def median_of(n: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    runs = [measure() for _ in range(n)]
    return statistics.median(runs), runs


class _Accept(BaseHTTPRequestHandler):
    """A broker stand-in: accepts every POST (202) and notes when it arrived."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.arrivals.append(time.perf_counter())  # type: ignore[attr-defined]
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def accepting_sink() -> ThreadingHTTPServer:
    """A loopback HTTP server accepting every POST, serving from a daemon thread; its
    `arrivals` list holds each POST's time (perf_counter)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    server.arrivals = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return server
