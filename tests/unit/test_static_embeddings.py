"""The packaged static embedding table: it loads offline, tokenizes as WordPiece does, and
puts texts that mean the same thing nearer than texts that do not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.adapters.static_embeddings import TABLE, StaticEmbedder, words
from orchestrator.errors import PermanentError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return StaticEmbedder()


def test_identifiers_are_split_into_words() -> None:
    assert words("HpaReplicasAtLimit") == ["hpa", "replicas", "at", "limit"]
    assert words("OOMKilled kube_pod-status") == ["oom", "killed", "kube", "pod", "status"]


def test_wordpiece_is_greedy_longest_match(embedder: StaticEmbedder) -> None:
    vocab, _ = embedder._load()
    tokens = {i: t for t, i in vocab.items()}
    assert embedder.pieces("memory") == (vocab["memory"],)
    split = [tokens[i] for i in embedder.pieces("restarting")]
    assert len(split) > 1 and split[0] == "restart" and split[1].startswith("##")
    assert "".join(t.removeprefix("##") for t in split) == "restarting"
    assert embedder.pieces("x" * 101) == ()
    assert embedder.pieces("\u00e9t\u00e9") == ()


def test_vectors_are_unit_length_and_empty_text_is_zero(embedder: StaticEmbedder) -> None:
    rows = embedder.matrix(["pod restarting in back-off", "", "!!!"])
    assert rows.shape == (3, embedder.dimensions)
    assert abs(float((rows[0] ** 2).sum()) - 1.0) < 1e-5
    assert not rows[1].any() and not rows[2].any()
    assert embedder.embed(["pod"], task="query")[0] == pytest.approx(
        embedder.embed(["pod"], task="document")[0])


@pytest.mark.parametrize(("query", "near", "far"), [
    ("autoscaler is at its maximum replica count", "HPA maxed out: cannot scale further",
     "certificate expires soon"),
    ("TLS certificate lapses in five days", "certificate expiring",
     "horizontal pod autoscaler at max replicas"),
    ("container killed for using too much memory", "container OOMKilled, memory limit",
     "disk full on node"),
])
def test_paraphrases_are_nearer_than_other_topics(embedder: StaticEmbedder, query: str,
                                                    near: str, far: str) -> None:
    sims = embedder.similarities(query, [near, far, "node not ready", "image pull back-off"])
    assert sims[0] > sims[1], sims


def test_document_vectors_are_reused_until_the_documents_change(
        embedder: StaticEmbedder) -> None:
    docs = ["one document", "another document"]
    embedder.similarities("q", docs)
    cached = embedder._docs
    embedder.similarities("another query", list(docs))
    assert embedder._docs is cached
    embedder.similarities("q", [*docs, "a third"])
    assert embedder._docs is not cached


def test_a_broken_table_is_a_permanent_error(tmp_path: Path) -> None:
    bad = tmp_path / "t.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(PermanentError, match="unreadable"):
        StaticEmbedder(bad).matrix(["x"])


def test_the_table_ships_in_the_package_and_loads_offline() -> None:
    # No network, no hub: HF_HUB_OFFLINE and a proxy that goes nowhere change nothing.
    assert TABLE.is_file() and TABLE.stat().st_size < 8_000_000
    script = (
        "import json, sys\n"
        "from orchestrator.adapters.static_embeddings import StaticEmbedder\n"
        "e = StaticEmbedder()\n"
        "s = e.similarities('pod keeps restarting', ['crash loop back-off', 'disk is full'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers',"
        " 'huggingface_hub', 'onnxruntime') if m in sys.modules]\n"
        "print(json.dumps({'dims': e.dimensions, 'sims': s, 'heavy': heavy}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["dims"] == 128 and out["heavy"] == []
    assert out["sims"][0] > out["sims"][1]


def test_package_data_includes_the_table() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "orchestrator.adapters.data" in config["packages"]
    assert "*.npz" in config["package-data"]["orchestrator.adapters.data"]
