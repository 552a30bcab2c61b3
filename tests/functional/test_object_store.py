"""The object-store adapter against a real S3 server (moto) and against a local folder."""

from __future__ import annotations

import threading

import pytest

from orchestrator.adapters.object_store import LocalDirStore, MinioStore, ObjectStore
from orchestrator.errors import TransientError
from tests.fakes.s3 import S3Server


@pytest.fixture(params=["local", "minio"])
def store(request, tmp_path, s3) -> ObjectStore:  # type: ignore[no-untyped-def]
    if request.param == "local":
        return LocalDirStore(tmp_path / "objects")
    bucket = f"b{abs(hash(request.node.name)) % 10**8}"
    return MinioStore.connect(s3.endpoint, s3.access_key, s3.secret_key, bucket)


def test_put_get_list_delete(store: ObjectStore) -> None:
    assert store.put("incidents/k1/2026-a.json", b'{"a": 1}')
    assert store.put("incidents/k1/2026-b.json", b'{"b": 2}')
    assert store.put("incidents/k2/2026-c.json", b"{}")
    assert store.get("incidents/k1/2026-a.json") == b'{"a": 1}'
    assert store.get("incidents/k1/missing.json") is None
    assert store.list("incidents/k1/") == ["incidents/k1/2026-a.json", "incidents/k1/2026-b.json"]
    store.delete("incidents/k1/2026-a.json")
    store.delete("incidents/k1/2026-a.json")
    assert store.list("incidents/k1/") == ["incidents/k1/2026-b.json"]


def test_create_only_writes_once(store: ObjectStore) -> None:
    assert store.put("audit/x.json", b"first", if_absent=True) is True
    assert store.put("audit/x.json", b"second", if_absent=True) is False
    assert store.get("audit/x.json") == b"first"


def test_concurrent_create_only_writers_leave_one_record(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = LocalDirStore(tmp_path)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def write(i: int) -> None:
        barrier.wait()
        results.append(store.put("k/one.json", f"writer {i}".encode(), if_absent=True))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    assert store.list("k/") == ["k/one.json"]


@pytest.mark.parametrize("key", ["/abs", "a/../b", "", "a//b"])
def test_unsafe_keys_are_refused(tmp_path, key: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="invalid object key"):
        LocalDirStore(tmp_path).put(key, b"x")


def test_unreachable_server_is_transient() -> None:
    store = MinioStore.connect("127.0.0.1:9", "a", "b", "bucket")
    store.client._http.connection_pool_kw["retries"] = 0  # fail fast instead of urllib3's retries
    with pytest.raises(TransientError, match="object store unreachable"):
        store.get("x")


def test_a_bucket_gone_behind_the_store_is_transient_then_made_again(s3: S3Server) -> None:
    """No minio exception crosses the adapter, whichever call meets it: a write into a bucket
    that vanished (a MinIO restarted on an empty volume) is retried, and the retry recreates it."""
    store = MinioStore.connect(s3.endpoint, s3.access_key, s3.secret_key, "vanishing")
    assert store.put("a/one.json", b"{}")
    other = MinioStore.connect(s3.endpoint, s3.access_key, s3.secret_key, "vanishing")
    other.client.remove_object("vanishing", "a/one.json")
    other.client.remove_bucket("vanishing")
    with pytest.raises(TransientError, match="NoSuchBucket") as e:
        store.put("a/two.json", b"{}")
    assert type(e.value.__cause__).__module__.startswith("minio")
    assert store.put("a/two.json", b"{}")
    assert store.list("a/") == ["a/two.json"]
