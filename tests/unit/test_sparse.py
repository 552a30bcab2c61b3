"""Tokenization and BM25 weighting: what makes alert text and runbook text comparable."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.knowledge.sparse import (
    K1,
    Bm25Scorer,
    CorpusStats,
    doc_vector,
    idf,
    query_vector,
    term_id,
    weighted_terms,
)
from orchestrator.knowledge.tokenize import stem, tokens


def test_identifiers_split_at_case_and_separators_and_keep_the_whole() -> None:
    assert list(tokens("KubePodCrashLooping")) == [
        "kubepodcrashlooping", "kube", "pod", "crash", "loop"]
    assert list(tokens("HTTPErrorRate")) == ["httperrorrate", "http", "error", "rate"]
    assert list(tokens("OOMKilled")) == ["oomkilled", "oom", "kill"]
    assert list(tokens("kube_pod_container_status_restarts_total"))[1:] == [
        "kube", "pod", "container", "status", "restart", "total"]
    assert list(tokens("node-exporter")) == ["nodeexporter", "node", "exporter"]


def test_short_lowercase_identifiers_stay_whole() -> None:
    assert list(tokens("k8s 5xx etcd3 kubelet")) == ["k8s", "5xx", "etcd3", "kubelet"]


def test_generated_names_addresses_and_numbers_are_noise() -> None:
    text = ("pod payments/checkout-7d9f8b6c5-x2k4q uid 3bc236f9-210e-4d38-947c-644a0db981f3 "
            "at 10.42.15.101:9093 07:57:26 93.75% job order-archiver-29322577")
    assert list(tokens(text)) == ["pod", "pay", "checkout", "uid", "job", "order", "archiver"]


def test_three_digit_codes_are_kept() -> None:
    assert list(tokens("exit code 137, HTTP 503")) == ["exit", "code", "137", "http", "503"]


def test_stop_words_are_dropped() -> None:
    assert list(tokens("The pod is in the state of waiting")) == ["pod", "stat", "wait"]


def test_inflections_meet() -> None:
    groups = [
        ("restart", "restarts", "restarted", "restarting"),
        ("fail", "fails", "failed", "failing"),
        ("ready", "readiness"),
        ("throttle", "throttled", "throttling"),
        ("evicted", "eviction", "evicting"),
        ("expire", "expiring", "expiration"),
        ("memory", "memories"),
        ("schedule", "scheduled", "scheduling"),
    ]
    for group in groups:
        assert len({stem(w) for w in group}) == 1, group


def test_term_ids_are_stable_u32() -> None:
    assert term_id("pod") == term_id("pod") != term_id("node")
    assert all(0 <= term_id(w) < 2**32 for w in ("a", "crashloopbackoff", "ünïcode"))


def test_field_weights_multiply_term_frequency() -> None:
    tf = weighted_terms([("Disk Full", 3.0), ("disk is full of logs", 1.0), ("ignored", 0.0)])
    assert tf == {"disk": 4.0, "full": 4.0, "log": 1.0}


def test_bm25_term_weight_saturates_and_prefers_short_documents() -> None:
    avgdl = 10.0
    one = doc_vector({"a": 1, "pad": 9}, avgdl=avgdl).as_dict()[term_id("a")]
    many = doc_vector({"a": 50, "pad": 9}, avgdl=avgdl).as_dict()[term_id("a")]
    assert one < many < K1 + 1
    short = doc_vector({"a": 1}, avgdl=avgdl).as_dict()[term_id("a")]
    long = doc_vector({"a": 1, "pad": 99}, avgdl=avgdl).as_dict()[term_id("a")]
    assert short > one > long


def test_query_repeats_count_with_diminishing_returns() -> None:
    q = query_vector({"a": 1.0, "b": 4.0, "c": 0.5}).as_dict()
    assert q == {term_id("a"): 1.0, term_id("b"): 2.0, term_id("c"): 0.5}


def test_idf_is_qdrants_formula() -> None:
    assert math.isclose(idf(1, 1), math.log(1 + 0.5 / 1.5))
    assert idf(100, 1) > idf(100, 50) > idf(100, 100) > 0


def test_in_process_scores_rank_the_matching_document_first() -> None:
    docs = [weighted_terms([(t, 1.0)]) for t in (
        "The container was OOMKilled after reaching its memory limit",
        "The node is not ready and the kubelet stopped posting status",
        "A certificate expires soon and renewal is failing",
    )]
    scorer = Bm25Scorer(docs)
    q = query_vector(weighted_terms([("Kubelet on the node is not posting its status", 1.0)]))
    scores = scorer.scores(q)
    assert scores.index(max(scores)) == 1
    assert scores[0] == 0.0 and scores[2] == 0.0


def test_stats_round_trip_through_a_payload() -> None:
    stats = CorpusStats.of([{"a": 1.0, "b": 2.0}, {"a": 3.0}])
    assert (stats.n_docs, stats.avgdl) == (2, 3.0)
    assert CorpusStats.from_payload(stats.to_payload()) == stats


_VOCABULARY = ["pod", "node", "disk", "memory", "restart", "kubelet", "crash", "certificate",
               "quota", "job", "volume", "error"]
_words = st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(st.lists(_words, min_size=1, max_size=8), _words)
def test_normalized_scores_never_exceed_one(corpus: list[list[str]], query: list[str]) -> None:
    docs = [weighted_terms([(" ".join(d), 1.0)]) for d in corpus]
    scorer = Bm25Scorer(docs)
    qv = query_vector(weighted_terms([(" ".join(query), 1.0)]))
    top = scorer.stats.max_score(qv)
    assert all(0.0 <= s <= top + 1e-9 for s in scorer.scores(qv))


def test_words_the_corpus_never_uses_lower_the_ceiling_ratio() -> None:
    scorer = Bm25Scorer([weighted_terms([("disk full", 1.0)]), weighted_terms([("pod", 1.0)])])
    known = query_vector(weighted_terms([("disk full", 1.0)]))
    padded = query_vector(weighted_terms([("disk full conversion revenue", 1.0)]))
    ratio_known = max(scorer.scores(known)) / scorer.stats.max_score(known)
    ratio_padded = max(scorer.scores(padded)) / scorer.stats.max_score(padded)
    assert ratio_padded < ratio_known / 2
