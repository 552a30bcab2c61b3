"""A real S3 server on loopback: moto in server mode, as its own process.

No MinIO server binary can be installed here; moto speaks the S3 wire protocol the minio client
uses, so the client, its signing and its errors are exercised for real.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.fakes.serving import free_port, listening, wait_until


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port, as the minio client wants it
    access_key: str = "testing"
    secret_key: str = "testing"


def start_moto(port: int, timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """moto's S3 server on `port`, once it accepts connections (it fails at once if it exits)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def up() -> bool:
        assert proc.poll() is None, f"moto S3 server exited with {proc.returncode}"
        return listening(port)

    try:
        wait_until(up, timeout=timeout, what="moto's S3 server to listen")
    except BaseException:
        proc.terminate()
        proc.wait(10)
        raise
    return proc


@contextmanager
def s3_server(timeout: float = 30.0) -> Iterator[S3Server]:
    port = free_port()
    proc = start_moto(port, timeout)
    try:
        yield S3Server(endpoint=f"127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(10)
