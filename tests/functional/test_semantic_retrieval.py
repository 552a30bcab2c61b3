"""The offline semantic retriever through the real Retriever over a real Qdrant local store.

It is judged on its own first (BM25's floor set out of reach, so only the semantic vote can
answer): on the renamed and paraphrased test alerts it must be right whenever it answers, and
abstain on every alert no runbook covers. Then fused with BM25, and lazily loaded by the agent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.adapters.static_embeddings import StaticEmbedder
from orchestrator.adapters.vectors import QdrantStore
from orchestrator.errors import PermanentError
from orchestrator.ingest.alertmanager import parse_alert
from orchestrator.knowledge.index import index_runbooks
from orchestrator.knowledge.search import MIN_SEMANTIC, Retriever
from orchestrator.knowledge.source import FolderSource
from orchestrator.resources import runbooks_dir

ROOT = Path(__file__).resolve().parents[2]
CASES = [json.loads(line) for line in
         (ROOT / "tests" / "events" / "retrieval_alerts.jsonl").read_text().splitlines()]
COVERED = [c for c in CASES if c["expected"]]
UNCOVERED = [c for c in CASES if not c["expected"]]
OUT_OF_REACH = 2.0  # a BM25 floor above 1.0: BM25 never votes


def alert(name: str, summary: str, description: str) -> Any:
    return parse_alert({"status": "firing", "labels": {"alertname": name, "namespace": "shop"},
                        "annotations": {"summary": summary, "description": description},
                        "startsAt": "2026-11-20T10:00:00Z"}, source="")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantStore]:
    s = QdrantStore.connect(path=tmp_path_factory.mktemp("kb") / "qdrant")
    index_runbooks(source=runbooks_dir(), store=s, collection="runbooks")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def semantic() -> StaticEmbedder:
    return StaticEmbedder()


@pytest.fixture(scope="module")
def semantic_only(store: QdrantStore, semantic: StaticEmbedder) -> Retriever:
    return Retriever(source=FolderSource(runbooks_dir()), store=store, semantic=semantic,
                     min_bm25=OUT_OF_REACH)


@pytest.fixture(scope="module")
def hybrid(store: QdrantStore, semantic: StaticEmbedder) -> Retriever:
    return Retriever(source=FolderSource(runbooks_dir()), store=store, semantic=semantic)


def test_alone_it_ranks_renamed_alerts_first(store: QdrantStore,
                                             semantic: StaticEmbedder) -> None:
    # Floor 0: the ranking alone, on names no runbook lists and wording no runbook repeats.
    ranking = Retriever(source=FolderSource(runbooks_dir()), store=store, semantic=semantic,
                        min_bm25=OUT_OF_REACH, min_semantic=0.0)
    wrong = [(c["id"], [h.runbook for h in ranking.search(parse_alert(c["alert"], source=""),
                                                          top=1)]) for c in COVERED]
    wrong = [(cid, got) for (cid, got), c in zip(wrong, COVERED, strict=True)
             if got != [c["expected"]]]
    assert len(wrong) <= len(COVERED) // 10, wrong


def test_alone_it_answers_only_when_sure_and_then_rightly(semantic_only: Retriever) -> None:
    answered = {c["id"]: semantic_only.search(parse_alert(c["alert"], source=""), top=1)
                for c in COVERED}
    answered = {cid: hits for cid, hits in answered.items() if hits}
    wrong = {cid: hits[0].runbook for cid, hits in answered.items()
             if hits[0].runbook != next(c["expected"] for c in COVERED if c["id"] == cid)}
    assert wrong == {}
    assert len(answered) >= len(COVERED) // 4, sorted(answered)
    assert {h[0].retriever for h in answered.values()} == {"semantic"}
    assert all(h[0].score >= MIN_SEMANTIC for h in answered.values())


@pytest.mark.parametrize("case", UNCOVERED, ids=lambda c: c["id"])
def test_alone_it_abstains_on_uncovered_alerts(semantic_only: Retriever,
                                               case: dict[str, Any]) -> None:
    assert semantic_only.search(parse_alert(case["alert"], source="")) == []


@pytest.mark.parametrize("case", UNCOVERED, ids=lambda c: c["id"])
def test_fused_it_still_abstains_on_uncovered_alerts(hybrid: Retriever,
                                                     case: dict[str, Any]) -> None:
    assert hybrid.search(parse_alert(case["alert"], source="")) == []


@pytest.mark.parametrize(("name", "summary", "description", "expected"), [
    ("HpaReplicasAtLimit", "Autoscaler is at its ceiling",
     "The horizontal autoscaler for checkout cannot add replicas beyond its configured maximum.",
     "k8s_hpa_maxed_out"),
    ("JobBroke", "Batch job ended badly", "The backup job ended in failure after its retries.",
     "k8s_job_failed"),
    ("ContainerSlowedByQuota", "Container slowed by its CPU quota",
     "The CPU quota of api slows it down: periods are throttled.", "cpu_throttling"),
])
def test_renamed_alerts_are_found_by_both_retrievers(hybrid: Retriever, name: str,
                                                     summary: str, description: str,
                                                     expected: str) -> None:
    hits = hybrid.search(alert(name, summary, description), top=2)
    assert hits[0].runbook == expected
    assert hits[0].retriever == "fused", hits


def test_with_qdrant_down_the_raw_runbooks_give_the_same_semantic_answer(
        semantic: StaticEmbedder, semantic_only: Retriever) -> None:
    raw = Retriever(source=FolderSource(runbooks_dir()), semantic=semantic,
                    min_bm25=OUT_OF_REACH,
                    connect=lambda: QdrantStore.connect(url="http://127.0.0.1:9", timeout=1))
    for case in COVERED[:12]:
        a = parse_alert(case["alert"], source="")
        assert [h.runbook for h in raw.search(a)] == [h.runbook for h in semantic_only.search(a)]


def test_a_broken_table_leaves_bm25(store: QdrantStore, tmp_path: Path) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"nothing")
    retriever = Retriever(source=FolderSource(runbooks_dir()), store=store,
                          semantic=StaticEmbedder(broken))
    hits = retriever.search(parse_alert(COVERED[0]["alert"], source=""))
    assert hits and {h.retriever for h in hits} == {"bm25"}


def test_the_semantic_model_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.knowledge.wiring import retriever_parts
    from orchestrator.settings.knowledge import KnowledgeSettings

    parts = retriever_parts(KnowledgeSettings.from_env())
    assert isinstance(parts["semantic"], StaticEmbedder)
    assert parts["min_semantic"] == MIN_SEMANTIC
    assert not parts["semantic"].loaded, "building the retriever must not read the table"
    monkeypatch.setenv("KB_SEMANTIC_MODEL", "none")
    assert retriever_parts(KnowledgeSettings.from_env())["semantic"] is None
    monkeypatch.setenv("KB_SEMANTIC_MODEL", "all-MiniLM-L6-v2")
    with pytest.raises(PermanentError, match="unknown semantic model"):
        retriever_parts(KnowledgeSettings.from_env())


def test_the_agent_loads_the_table_only_when_a_query_needs_it(tmp_path: Path) -> None:
    s = QdrantStore.connect(path=tmp_path / "q")
    index_runbooks(source=runbooks_dir(), store=s, collection="runbooks")
    s.close()
    script = (
        "import json, sys\n"
        "from orchestrator.decide.wiring import knowledge\n"
        "from orchestrator.ingest.alertmanager import parse_alert\n"
        "kb, close = knowledge(exact_first=True)\n"
        "table = kb.retriever.semantic\n"
        "def a(name, text=''):\n"
        "    return parse_alert({'status': 'firing', 'labels': {'alertname': name},"
        " 'annotations': {'description': text}, 'startsAt': '2026-01-01T00:00:00Z'}, source='')\n"
        "exact = kb.search(a('KubePodCrashLooping'))[0]\n"
        "after_exact = table.loaded\n"
        "renamed = kb.search(a('HpaReplicasAtLimit', 'The horizontal autoscaler for checkout"
        " cannot add replicas beyond its configured maximum.'))[0]\n"
        "close()\n"
        "print(json.dumps({'exact': [exact.runbook, exact.retriever], 'after_exact': after_exact,"
        " 'renamed': [renamed.runbook, renamed.retriever], 'after_renamed': table.loaded}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "KB_QDRANT_PATH": str(tmp_path / "q"),
           "KB_RUNBOOKS_DIR": str(runbooks_dir()), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "exact": ["k8s_crashloop", "exact"], "after_exact": False,
        "renamed": ["k8s_hpa_maxed_out", "fused"], "after_renamed": True}


def test_the_summary_is_read_as_a_headline_when_the_description_is_figures_and_objects(
        store: QdrantStore, semantic: StaticEmbedder) -> None:
    pod, node = "checkout-7d9f8b6c5-x2k4q", "ip-10-0-1-2.eu-west-1.compute.internal"
    renamed = parse_alert({
        "status": "firing",
        "labels": {"alertname": "MemKill", "namespace": "shop", "pod": pod, "node": node},
        "annotations": {"summary": "Container killed for using too much memory",
                        "description": f"{pod} in shop was terminated 3 times in 1h on {node}, "
                                       "last at 512Mi."},
        "startsAt": "2026-11-20T10:00:00Z"}, source="")
    ranking = Retriever(source=FolderSource(runbooks_dir()), store=store, semantic=semantic,
                        min_bm25=OUT_OF_REACH, min_semantic=0.0)
    (hit,) = ranking.search(renamed, top=1)
    assert (hit.runbook, hit.retriever) == ("k8s_oomkilled", "semantic")
