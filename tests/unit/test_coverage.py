"""Coverage: the share of an alert's problem words a runbook uses (the second abstention test)."""

from __future__ import annotations

import pytest

from orchestrator.events import Alert
from orchestrator.ingest.alertmanager import parse_alert
from orchestrator.knowledge.coverage import CoverageQuery, K, problem_terms, runbook_terms
from orchestrator.knowledge.sparse import CorpusStats, idf, term_id


def alert(labels: dict[str, str], **annotations: str) -> Alert:
    return parse_alert({"status": "firing", "labels": {"alertname": "Custom", **labels},
                        "annotations": annotations, "startsAt": "2026-11-20T10:00:00Z"},
                       source="")


def test_label_names_are_not_problem_words_but_failure_modes_are() -> None:
    a = alert({"job": "etcd", "namespace": "shop", "pod": "cart-0", "reason": "CrashLoopBackOff"},
              summary="etcd member in shop has no leader",
              description="cart-0 is waiting in CrashLoopBackOff")
    assert set(problem_terms(a)) == {"member", "leader", "wait", "crash", "loop", "back"}


def test_quantities_template_words_and_joined_identifiers_are_left_out() -> None:
    a = alert({}, summary="99th percentile latency is 2.1s",
              description="More than 5% of requests failed in the last 5 minutes (HTTP 503)")
    assert set(problem_terms(a)) == {"percentil", "latenci", "request", "fail", "http"}
    b = alert({}, summary="KubePodCrashLooping")
    assert set(problem_terms(b)) == {"kube", "pod", "crash", "loop"}


def test_without_annotations_the_alertname_stands_in() -> None:
    assert set(problem_terms(alert({}))) == {"custom"}


def test_runbook_terms_sum_over_chunks_by_term_id() -> None:
    tf = runbook_terms([{"disk": 3.0, "full": 1.0}, {"disk": 1.0}])
    assert tf == {term_id("disk"): 4.0, term_id("full"): 1.0}


def test_score_weights_by_idf_and_saturates_the_runbooks_term_frequency() -> None:
    stats = CorpusStats.of([{"leader": 1.0}, {"member": 1.0}, {"member": 1.0}, {"pod": 1.0}])
    query = CoverageQuery.of(alert({}, summary="leader member"), stats)
    w_leader, w_member = idf(4, 1), idf(4, 2)
    assert query.weights == {term_id("leader"): pytest.approx(w_leader),
                             term_id("member"): pytest.approx(w_member)}
    once = query.score({term_id("member"): 1.0})
    often = query.score({term_id("member"): 20.0})
    assert once == pytest.approx(w_member / (1 + K) / (w_leader + w_member))
    assert once < often < w_member / (w_leader + w_member)
    both = query.score({term_id("leader"): 50.0, term_id("member"): 50.0})
    assert 0.95 < both < 1.0
    assert query.score({}) == 0.0


def test_a_word_no_chunk_uses_weighs_most() -> None:
    stats = CorpusStats.of([{"pod": 1.0}, {"node": 1.0}])
    query = CoverageQuery.of(alert({}, summary="pod zookeeper"), stats)
    assert query.weights[term_id("zookeeper")] > query.weights[term_id("pod")]


def test_an_alert_without_problem_words_is_not_held_against_any_runbook() -> None:
    stats = CorpusStats.of([{"pod": 1.0}])
    query = CoverageQuery.of(alert({"namespace": "shop"}, summary="shop 42%"), stats)
    assert query.weights == {} and query.score({}) == 1.0
