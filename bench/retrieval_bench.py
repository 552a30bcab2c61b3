"""Retrieval quality and latency, measured through the same Retriever the agent uses.

    .venv/bin/python bench/retrieval_bench.py [EVAL_DIR] [--json] [--min-coverage X]

EVAL_DIR defaults to `../shared/eval/kube-prometheus` beside the repository (108 runbooks from
prometheus-operator/runbooks, Alertmanager payloads for 121 kube-prometheus alert rules). Each
payload is asked three ways:

  (a) as recorded, with the `runbook_url` annotation;
  (b) without `runbook_url` (the file name still equals the alertname);
  (c) without `runbook_url` and with the alertname replaced by a neutral one: only the text,
      the other labels and the generator URL are left; (c-) also drops the generator URL.

Then the packaged runbooks against the team's test alerts (tests/events/retrieval_alerts.jsonl):
paraphrased alerts under names no runbook lists, and alerts no runbook covers, which must get an
empty answer (`--min-coverage 0` shows what BM25 relevance alone would answer). Latency:
Retriever.search next to a bare Qdrant sparse query, in the same run, on a local (on-disk)
store as the embedded default uses.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.adapters.static_embeddings import SemanticModel, StaticEmbedder  # noqa: E402
from orchestrator.adapters.vectors import QdrantStore  # noqa: E402
from orchestrator.events import Alert  # noqa: E402
from orchestrator.ingest.alertmanager import parse_alert  # noqa: E402
from orchestrator.knowledge.coverage import MIN_COVERAGE  # noqa: E402
from orchestrator.knowledge.index import index_runbooks  # noqa: E402
from orchestrator.knowledge.query import alert_fields  # noqa: E402
from orchestrator.knowledge.search import MIN_SEMANTIC, Retriever  # noqa: E402
from orchestrator.knowledge.source import FolderSource  # noqa: E402
from orchestrator.knowledge.sparse import query_vector, weighted_terms  # noqa: E402

NEUTRAL = "Alert"
TOP = 10


def _alert(raw: dict[str, Any], *, hide_name: bool = False, drop_url: bool = False,
           drop_generator: bool = False) -> Alert:
    raw = json.loads(json.dumps(raw))
    if drop_url:
        raw.get("annotations", {}).pop("runbook_url", None)
    if hide_name:
        raw["labels"]["alertname"] = NEUTRAL
    if drop_generator:
        raw["generatorURL"] = ""
    return parse_alert(raw, source="")


def _score(retriever: Retriever, cases: list[tuple[Alert, str]]) -> dict[str, Any]:
    r1 = mrr = abstained = 0.0
    latencies = []
    first: list[bool] = []
    for alert, expected in cases:
        t0 = time.perf_counter()
        hits = retriever.search(alert, top=TOP)
        latencies.append(time.perf_counter() - t0)
        ids = [h.runbook for h in hits]
        abstained += not hits
        first.append(ids[:1] == [expected])
        if expected in ids:
            rank = ids.index(expected) + 1
            r1 += rank == 1
            mrr += 1 / rank
    n = len(cases)
    return {"n": n, "recall@1": round(r1 / n, 3), "mrr": round(mrr / n, 3),
            "abstained": int(abstained), "latencies": latencies,
            "folds": _folds([expected for _, expected in cases], first)}


FOLDS = 5


def _folds(expected: list[str], first: list[bool]) -> list[str]:
    """recall@1 per fold, the folds made by runbook (all rules of one alertname in one fold,
    by a hash of its name, not by what a method gets right): a change that helps only where
    it was looked at shows as one fold moving while the others do not."""
    import hashlib

    per: list[list[bool]] = [[] for _ in range(FOLDS)]
    for runbook, ok in zip(expected, first, strict=True):
        per[int(hashlib.sha256(runbook.encode()).hexdigest(), 16) % FOLDS].append(ok)
    return [f"{sum(f)}/{len(f)}" for f in per]


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[int(0.95 * (len(xs) - 1))]
    return f"p50 {1000 * statistics.median(xs):.1f} ms, p95 {1000 * p95:.1f} ms"


class Config:
    """One retriever configuration under test: the BM25 coverage floor, the semantic model."""

    def __init__(self, min_coverage: float, semantic: SemanticModel | None,
                 min_semantic: float) -> None:
        self.min_coverage, self.semantic, self.min_semantic = min_coverage, semantic, min_semantic


def _open(folder: Path, store_dir: Path, cfg: Config) -> tuple[QdrantStore, Retriever]:
    store = QdrantStore.connect(path=store_dir)
    index_runbooks(source=folder, store=store, collection="runbooks")
    return store, Retriever(source=FolderSource(folder), store=store, collection="runbooks",
                            min_coverage=cfg.min_coverage, semantic=cfg.semantic,
                            min_semantic=cfg.min_semantic)


def eval_kube_prometheus(eval_dir: Path, tmp: Path, cfg: Config) -> dict[str, Any]:
    rows = [json.loads(line) for line in (eval_dir / "payloads.jsonl").open()]
    store, retriever = _open(eval_dir / "runbooks", tmp, cfg)
    try:
        def cases(variant: str, **kw: bool) -> list[tuple[Alert, str]]:
            return [(_alert(r["payload"]["alerts"][0], **kw),
                     r["expected_runbook"].removesuffix(".md"))
                    for r in rows if r["variant"] == variant]

        out = {
            "a_with_runbook_url": _score(retriever, cases("with_runbook_url")),
            "b_without_runbook_url": _score(retriever, cases("no_runbook_url")),
            "c_alertname_hidden": _score(retriever, cases("no_runbook_url", hide_name=True)),
            "c-_alertname_and_generator_hidden": _score(
                retriever, cases("no_runbook_url", hide_name=True, drop_generator=True)),
        }
        bare = []
        for alert, _ in cases("no_runbook_url", hide_name=True):
            qv = query_vector(weighted_terms(alert_fields(alert)))
            t0 = time.perf_counter()
            store.search_sparse("runbooks", qv.indices, qv.values, limit=retriever.candidates)
            bare.append(time.perf_counter() - t0)
        out["bare_qdrant_latencies"] = bare
        return out
    finally:
        store.close()


def eval_own(runbooks: Path, alerts_file: Path, tmp: Path, cfg: Config) -> dict[str, Any]:
    rows = [json.loads(line) for line in alerts_file.open()]
    store, retriever = _open(runbooks, tmp, cfg)
    try:
        covered = [(parse_alert(r["alert"], source=""), r["expected"]) for r in rows
                   if r["expected"]]
        uncovered = [parse_alert(r["alert"], source="") for r in rows if not r["expected"]]
        out = _score(retriever, covered)
        wrong = [a.name for a in uncovered if retriever.search(a, top=TOP)]
        out["uncovered"] = len(uncovered)
        out["abstain_accuracy"] = round(1 - len(wrong) / len(uncovered), 3)
        out["answered_but_should_abstain"] = wrong
        out["abstained_correctly"] = [a.name for a in uncovered if a.name not in wrong]
        out["all_cases_accuracy"] = round(
            (out["recall@1"] * len(covered) + len(uncovered) - len(wrong))
            / (len(covered) + len(uncovered)), 3)
        return out
    finally:
        store.close()


def _run(args: argparse.Namespace, tmp: Path, cfg: Config) -> dict[str, Any]:
    return {"kp": eval_kube_prometheus(args.eval_dir, tmp / "eval", cfg),
            "own": eval_own(args.runbooks, args.alerts, tmp / "own", cfg)}


def _print(name: str, res: dict[str, Any], args: argparse.Namespace) -> None:
    kp, own = res["kp"], res["own"]
    print(f"{name}\n kube-prometheus eval ({args.eval_dir.name}):")
    for key, r in kp.items():
        if isinstance(r, dict):
            print(f"  {key:36s} recall@1 {r['recall@1']:.3f}  MRR {r['mrr']:.3f}  "
                  f"abstained {r['abstained']}/{r['n']}  folds {' '.join(r['folds'])}")
    print(f" own runbooks ({args.runbooks.name}/, {args.alerts.name}):")
    print(f"  covered alerts ({own['n']})            recall@1 {own['recall@1']:.3f}  "
          f"MRR {own['mrr']:.3f}  wrongly abstained {own['abstained']}")
    answered = ", ".join(own["answered_but_should_abstain"]) or "none"
    print(f"  uncovered alerts ({own['uncovered']})          abstain accuracy "
          f"{own['abstain_accuracy']:.3f}  answered: {answered}")
    print(" latency, (c) queries on the 108-runbook index (local on-disk Qdrant):")
    print(f"  Retriever.search                     {_ms(kp['c_alertname_hidden']['latencies'])}")
    print(f"  bare Qdrant sparse query             {_ms(kp['bare_qdrant_latencies'])}")


def _figures(res: dict[str, Any]) -> dict[str, Any]:
    return {"kube_prometheus": {k: {kk: vv for kk, vv in v.items() if kk != "latencies"}
                                for k, v in res["kp"].items() if isinstance(v, dict)},
            "own": {k: v for k, v in res["own"].items() if k != "latencies"}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_dir", nargs="?", type=Path,
                        default=ROOT.parent / "shared" / "eval" / "kube-prometheus")
    parser.add_argument("--runbooks", type=Path, default=ROOT / "runbooks")
    parser.add_argument("--alerts", type=Path,
                        default=ROOT / "tests" / "events" / "retrieval_alerts.jsonl")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--min-coverage", type=float, default=MIN_COVERAGE,
                        help=f"coverage floor for BM25 candidates (default {MIN_COVERAGE})")
    parser.add_argument("--min-semantic", type=float, default=MIN_SEMANTIC,
                        help=f"semantic relevance floor (default {MIN_SEMANTIC})")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    embedder = StaticEmbedder()
    t0 = time.perf_counter()
    embedder.similarities("warm up", ["load the table"])
    load = time.perf_counter() - t0
    configs = {
        "baseline: exact + BM25": Config(args.min_coverage, None, args.min_semantic),
        "exact + BM25 + semantic (static table)": Config(args.min_coverage, embedder,
                                                         args.min_semantic),
    }
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: _run(args, Path(tmp) / str(i), cfg)
                   for i, (name, cfg) in enumerate(configs.items())}
    if args.json:
        # The configured retriever's figures at the top level (what bench/suite.py reads), the
        # same-run baseline beside them.
        base_res, sem_res = (_figures(res) for res in results.values())
        print(json.dumps({**sem_res, "baseline_exact_bm25": base_res,
                          "semantic_table_load_ms": round(1000 * load, 1)}, indent=2))
        return 0
    for name, res in results.items():
        _print(name, res, args)
    base, sem = (r["kp"]["c_alertname_hidden"]["latencies"] for r in results.values())
    print(f"semantic table load (first query) {1000 * load:.0f} ms; search p50 ratio "
          f"{statistics.median(sem) / statistics.median(base):.2f}x the same-run baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
