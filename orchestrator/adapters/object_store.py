"""Object storage: MinIO/S3 when configured, a local folder in the embedded default.

Used for the raw runbooks and the event-sourced audit log. `put(..., if_absent=True)` is the
create-only write the audit log relies on: at-least-once delivery means the same record arrives
more than once, and only the first may land.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.errors import TransientError

if TYPE_CHECKING:
    from minio import Minio

    from orchestrator.settings.blocks import AuditStoreSettings


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str = "application/json",
            if_absent: bool = False) -> bool:
        """Store `data`; with `if_absent`, do nothing when the key exists. True when written."""

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such key."""

    def list(self, prefix: str) -> list[str]:
        """Every key under `prefix`, recursively, sorted."""

    def delete(self, key: str) -> None:
        """Remove a key; a missing key is not an error."""

    def ping(self) -> None:
        """Raise TransientError when the store cannot be reached."""


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key {key!r}")
    return key


class LocalDirStore:
    """Objects as files under one folder; create-only writes are atomic (link, not rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str = "application/json",
            if_absent: bool = False) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if if_absent:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    return False
            else:
                os.replace(tmp, path)
                tmp = ""
            return True
        finally:
            if tmp:
                os.unlink(tmp)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def list(self, prefix: str) -> list[str]:
        # Walk only the folder the prefix names: the audit log grows with every event.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root / folder if folder else self.root
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def ping(self) -> None:
        if not self.root.is_dir():
            raise TransientError(f"object folder {self.root} is gone")


# The SDK's own pool waits up to 5 minutes per request and retries 5 times with backoff (6 s
# against a refused port): a MinIO outage then held every plan (the agent reads the audit log
# first) and every audit write that long, and a hung MinIO outlasted the Triggers' timeouts. A
# store that is down must fail fast: the broker's backoff, or the agent's fallback, takes over.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 15.0


def _http_client() -> Any:
    """The minio SDK's default pool (the same TLS trust: SSL_CERT_FILE, else certifi's roots),
    with bounded timeouts and one quick retry. The certificates are loaded by the first TLS
    connection, not here: most stores are plain http inside the cluster, and building a TLS
    context costs ~35 ms of the function's first request."""
    import os

    import certifi
    import urllib3

    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT), maxsize=10,
        cert_reqs="CERT_REQUIRED", ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=1, backoff_factor=0.1, status_forcelist=[500, 502, 503, 504]))


class _Absent(TransientError):
    """S3 says the key does not exist (a read's None, a delete's "already done")."""


class _Taken(TransientError):
    """A create-only write found the key taken (the record is already there)."""


_ABSENT = ("NoSuchKey", "NoSuchObject")
_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")


class MinioStore:
    """One bucket of a MinIO/S3 server, through the minio SDK client passed in."""

    def __init__(self, client: Minio, bucket: str, *, create_bucket: bool = True) -> None:
        self.client = client
        self.bucket = bucket
        self._create = create_bucket
        self._ready = False

    @classmethod
    def connect(cls, endpoint: str, access_key: str, secret_key: str, bucket: str, *,
                secure: bool = False, region: str | None = None) -> MinioStore:
        from minio import Minio

        client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
                       region=region, http_client=_http_client())
        return cls(client, bucket)

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """Run SDK calls on the bucket (made first, once); every failure of the SDK and of the
        urllib3 pool under it leaves as ours: `_Absent` and `_Taken` for the two answers callers
        expect, a TransientError for anything else (the broker retries; nothing here is the
        sender's fault). The SDK's classes are imported here, never at module import."""
        from minio.error import MinioException, S3Error
        from urllib3.exceptions import HTTPError

        try:
            if not self._ready:
                if self._create and not self.client.bucket_exists(self.bucket):
                    self.client.make_bucket(self.bucket)
                self._ready = True
            yield
        except S3Error as e:
            if e.code == "NoSuchBucket":
                # The bucket is gone (a MinIO restarted on an empty volume): make it again on
                # the next call, or every write from now on fails until this process restarts.
                self._ready = False
            kind = _Absent if e.code in _ABSENT else _Taken if e.code in _TAKEN else TransientError
            raise kind(f"object store error {what}: {e.code}") from e
        except (MinioException, HTTPError, OSError) as e:
            raise TransientError(f"object store unreachable ({what}): {e}") from e

    def put(self, key: str, data: bytes, *, content_type: str = "application/json",
            if_absent: bool = False) -> bool:
        _check_key(key)
        if not if_absent:
            with self._translated(f"writing {key}"):
                self.client.put_object(self.bucket, key, io.BytesIO(data), len(data),
                                       content_type=content_type)
            return True
        # A conditional PUT (If-None-Match: *; S3 since 2024, MinIO since 2024-08): the public
        # put_object would send that header as user metadata, hence the SDK's lower-level call.
        try:
            with self._translated(f"writing {key}"):
                self.client._put_object(self.bucket, key, data,
                                        {"Content-Type": content_type, "If-None-Match": "*"})
        except _Taken:
            return False
        return True

    def get(self, key: str) -> bytes | None:
        try:
            with self._translated(f"reading {key}"):
                resp = self.client.get_object(self.bucket, _check_key(key))
                try:
                    data: bytes = resp.read()  # a server may fail mid-body: translated too
                finally:
                    resp.close()
                    resp.release_conn()
        except _Absent:
            return None
        return data

    def list(self, prefix: str) -> list[str]:
        with self._translated(f"listing {prefix}"):
            objects = list(self.client.list_objects(self.bucket, prefix=prefix, recursive=True))
        return sorted(o.object_name for o in objects)

    def delete(self, key: str) -> None:
        try:
            with self._translated(f"deleting {key}"):
                self.client.remove_object(self.bucket, _check_key(key))
        except _Absent:
            pass  # gone already: done

    def ping(self) -> None:
        with self._translated("reaching the bucket"):
            pass


def audit_store(block: AuditStoreSettings) -> ObjectStore | None:
    """The audit store a settings block describes: MinIO/S3 when an endpoint is set, else the
    local folder, else None (each caller says what that costs it)."""
    from orchestrator.settings.common import reveal

    if block.audit_endpoint:
        return MinioStore.connect(block.audit_endpoint, block.audit_access_key or "",
                                  reveal(block.audit_secret_key) or "", block.audit_bucket,
                                  secure=block.audit_secure, region=block.audit_region)
    return LocalDirStore(block.audit_dir) if block.audit_dir is not None else None
