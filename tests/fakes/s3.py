"""A real S3 server on loopback: moto in server mode, as its own process.

No MinIO server binary can be installed here; moto speaks the S3 wire protocol the minio client
uses, so the client, its signing and its errors are exercised for real.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port, as the minio client wants it
    access_key: str = "testing"
    secret_key: str = "testing"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def s3_server(timeout: float = 30.0) -> Iterator[S3Server]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto S3 server did not start") from None
                time.sleep(0.05)
        yield S3Server(endpoint=f"127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(10)
