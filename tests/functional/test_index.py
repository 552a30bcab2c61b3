"""Hydration against real components: Qdrant local mode on disk, moto's S3 server, and the real
google-genai client against the in-process fake Gemini server for embeddings.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.adapters.embeddings import GeminiEmbedder
from orchestrator.adapters.object_store import MinioStore
from orchestrator.adapters.vectors import QdrantStore
from orchestrator.errors import TransientError
from orchestrator.knowledge.chunks import chunk_runbook
from orchestrator.knowledge.index import CATALOG_ID, index_runbooks
from orchestrator.knowledge.runbook import RunbookError, load_folder
from orchestrator.knowledge.sparse import term_id
from orchestrator.resources import runbooks_dir
from tests.fakes.gemini import fake_gemini
from tests.fakes.s3 import S3Server

COLLECTION = "runbooks"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    shutil.copytree(runbooks_dir(), folder)
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Iterator[QdrantStore]:
    s = QdrantStore.connect(path=tmp_path / "qdrant")
    try:
        yield s
    finally:
        s.close()


def _chunks_by_runbook(store: QdrantStore) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for pid, payload in store.payloads(COLLECTION).items():
        if payload.get("kind") == "chunk":
            out.setdefault(payload["runbook"], set()).add(pid)
    return out


def test_first_run_indexes_every_chunk_with_its_payload(source: Path, store: QdrantStore) -> None:
    seen: list[tuple[int, int, str]] = []
    report = index_runbooks(source=source, store=store, collection=COLLECTION,
                            progress=lambda d, t, label: seen.append((d, t, label)))
    runbooks = load_folder(source)
    expected = {rb.id: {c.point_id for c in chunk_runbook(rb)} for rb in runbooks}
    assert sorted(report.added) == sorted(expected) and len(expected) == 16
    assert report.chunks_written == sum(len(v) for v in expected.values())
    assert _chunks_by_runbook(store) == expected
    assert [d for d, _, _ in seen] == list(range(1, 17)) and {t for _, t, _ in seen} == {16}

    crash = next(rb for rb in runbooks if rb.id == "k8s_crashloop")
    first = chunk_runbook(crash)[0]
    payload = store.get(COLLECTION, first.point_id)
    assert payload is not None
    assert payload["runbook"] == "k8s_crashloop" and payload["heading"] == "What it means"
    assert payload["alerts"] == crash.alerts and payload["content_hash"] == crash.content_hash
    catalog = store.get(COLLECTION, CATALOG_ID)
    assert catalog is not None and catalog["runbooks"]["k8s_crashloop"]["hash"] == \
        crash.content_hash
    assert catalog["n_docs"] == report.chunks_written
    # Each runbook's term frequencies, summed over its chunks: what coverage is measured against.
    terms = catalog["runbooks"]["k8s_crashloop"]["terms"]
    assert terms[str(term_id("crash"))] >= len(chunk_runbook(crash)) * 3  # in every title
    assert str(term_id("etcd")) not in terms


def test_second_run_skips_everything(source: Path, store: QdrantStore) -> None:
    index_runbooks(source=source, store=store, collection=COLLECTION)
    before = store.payloads(COLLECTION)
    again = index_runbooks(source=source, store=store, collection=COLLECTION)
    assert (again.added, again.updated, again.removed, again.chunks_written) == ([], [], [], 0)
    assert len(again.unchanged) == 16
    assert store.payloads(COLLECTION) == before


def test_changed_runbook_is_rewritten_and_its_stale_chunks_removed(
        source: Path, store: QdrantStore) -> None:
    index_runbooks(source=source, store=store, collection=COLLECTION)
    file = source / "cpu_throttling.md"
    text = file.read_text()
    assert "## What to do" in text
    file.write_text(text.replace("## What to do", "## Remediation steps"))
    report = index_runbooks(source=source, store=store, collection=COLLECTION)
    assert report.updated == ["cpu_throttling"] and len(report.unchanged) == 15
    headings = {p["heading"] for p in store.payloads(COLLECTION).values()
                if p.get("runbook") == "cpu_throttling"}
    assert "Remediation steps" in headings and "What to do" not in headings


def test_removed_runbook_is_deleted_and_new_markdown_without_front_matter_indexed(
        source: Path, store: QdrantStore) -> None:
    index_runbooks(source=source, store=store, collection=COLLECTION)
    (source / "cert_expiring.md").unlink()
    (source / "team").mkdir()
    (source / "team" / "KafkaLag.md").write_text("# KafkaLag\n\n## Meaning\n\nConsumers lag.\n")
    report = index_runbooks(source=source, store=store, collection=COLLECTION)
    assert report.removed == ["cert_expiring"] and report.added == ["team/KafkaLag"]
    by_runbook = _chunks_by_runbook(store)
    assert "cert_expiring" not in by_runbook and "team/KafkaLag" in by_runbook
    catalog = store.get(COLLECTION, CATALOG_ID)
    assert catalog is not None and "cert_expiring" not in catalog["runbooks"]


def test_a_broken_runbook_fails_the_run_before_anything_is_written(
        source: Path, store: QdrantStore) -> None:
    index_runbooks(source=source, store=store, collection=COLLECTION)
    before = store.payloads(COLLECTION)
    (source / "zz_broken.md").write_text("---\nactions: [{type: reboot}]\n---\n")
    (source / "k8s_oomkilled.md").write_text("---\nid: k8s_oomkilled\n---\n## Changed\n")
    with pytest.raises(RunbookError, match="zz_broken.md"):
        index_runbooks(source=source, store=store, collection=COLLECTION)
    assert store.payloads(COLLECTION) == before


def test_a_local_store_admits_one_client(tmp_path: Path, store: QdrantStore) -> None:
    with pytest.raises(TransientError, match="another process"):
        QdrantStore.connect(path=tmp_path / "qdrant")


def test_a_qdrant_server_that_is_down_is_a_transient_error(source: Path) -> None:
    down = QdrantStore.connect(url="http://127.0.0.1:9", timeout=1)
    try:
        with pytest.raises(TransientError, match="qdrant"):
            index_runbooks(source=source, store=down, collection=COLLECTION)
    finally:
        down.close()


def test_raw_files_are_mirrored_into_s3(source: Path, store: QdrantStore, s3: S3Server) -> None:
    objects = MinioStore.connect(s3.endpoint, s3.access_key, s3.secret_key, "kb-mirror")
    report = index_runbooks(source=source, store=store, collection=COLLECTION, objects=objects)
    keys = objects.list("runbooks/")
    assert report.objects_written == 16 and len(keys) == 16
    assert objects.get("runbooks/k8s_crashloop.md") == (source / "k8s_crashloop.md").read_bytes()

    again = index_runbooks(source=source, store=store, collection=COLLECTION, objects=objects)
    assert (again.objects_written, again.objects_removed) == (0, 0)

    (source / "target_down.md").unlink()
    edited = source / "k8s_job_failed.md"
    edited.write_text(edited.read_text() + "\nOne more line.\n")
    third = index_runbooks(source=source, store=store, collection=COLLECTION, objects=objects)
    assert (third.objects_written, third.objects_removed) == (1, 1)
    assert "runbooks/target_down.md" not in objects.list("runbooks/")
    assert objects.get("runbooks/k8s_job_failed.md") == edited.read_bytes()


def test_dense_vectors_come_from_the_embedding_model(source: Path, store: QdrantStore) -> None:
    with fake_gemini() as gemini:
        embedder = GeminiEmbedder.connect(api_key="test-key", model="gemini-embedding-001",
                                          dimensions=32, base_url=gemini.url)
        report = index_runbooks(source=source, store=store, collection=COLLECTION,
                                embedder=embedder)
        embeds = [r for r in gemini.requests if r.path.endswith(":batchEmbedContents")]
        assert sum(len(r.body["requests"]) for r in embeds) == report.chunks_written
        assert {r.body["requests"][0]["taskType"] for r in embeds} == {"RETRIEVAL_DOCUMENT"}
        assert all(r.headers["x-goog-api-key"] == "test-key" for r in embeds)
        hits = store.search_dense(COLLECTION, embedder.embed(
            ["container OOMKilled memory limit exit code 137"], task="query")[0], limit=3)
        assert hits and hits[0].payload["runbook"] == "k8s_oomkilled"

        # Switching the model off rebuilds the collection without dense vectors.
        again = index_runbooks(source=source, store=store, collection=COLLECTION)
        assert len(again.added) == 16
        with pytest.raises(TransientError):
            store.search_dense(COLLECTION, [0.1] * 32, limit=1)
