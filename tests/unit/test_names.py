"""What the alert's expression measures, against the runbooks' names (knowledge/names.py), and
the ranking it changes: a renamed alert with generic prose still reaches the runbook its
expression spells, while abstention stays the other retrievers' call."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from orchestrator.events import Alert
from orchestrator.ingest.alertmanager import parse_alert
from orchestrator.knowledge.exact import Entry
from orchestrator.knowledge.names import measure_words, name_scores, spelled
from orchestrator.knowledge.search import Retriever
from orchestrator.knowledge.source import FolderSource

GENERIC = "Target disappeared from Prometheus target discovery."


def alert(expr: str, summary: str = GENERIC, name: str = "Renamed") -> Alert:
    url = f"http://prometheus:9090/graph?g0.expr={quote(expr)}&g0.tab=1"
    return parse_alert({"status": "firing", "labels": {"alertname": name, "severity": "critical"},
                        "annotations": {"summary": summary}, "generatorURL": url,
                        "startsAt": "2026-11-20T10:00:00Z"}, source="")


def entries(*names: str) -> list[Entry]:
    return [Entry(n, n, ()) for n in names]


def test_metric_names_and_condition_values_are_measured_but_not_where_a_series_comes_from() -> None:
    words = measure_words(alert('kube_statefulset_status_observed_generation{job="kube-state-'
                                'metrics",namespace="monitoring"} != 0 and node_md_disks{sta'
                                'te="failed", device=~"md.+"} > 0'))
    assert {"statefulset", "observ", "gener", "disk", "fail"} <= words
    assert not words & {"metric", "monitor", "md"}  # job, namespace, regex values left out
    assert {"kube", "proxi"} <= measure_words(alert('absent(up{job="kube-proxy"})'))
    assert measure_words(alert("")) == set()


def test_rare_name_words_weigh_more_than_common_prefixes() -> None:
    books = entries("PrometheusRuleFailures", "PrometheusMissingRuleEvaluations",
                    "PrometheusBadConfig", "PrometheusNotIngestingSamples")
    scores = name_scores(alert("increase(prometheus_rule_evaluation_failures_total[5m]) > 0"),
                         books)
    assert scores["PrometheusRuleFailures"] == 1.0
    assert 0.5 < scores["PrometheusMissingRuleEvaluations"] < 1.0
    assert scores["PrometheusBadConfig"] < 0.3


def test_only_one_fully_spelled_name_of_two_words_or_more_leads() -> None:
    books = entries("KubeProxyDown", "KubeSchedulerDown", "KubeletDown", "TargetDown")
    assert spelled(alert('absent(up{job="kube-proxy"})'), books) == "KubeProxyDown"
    assert spelled(alert('up{job="kube-proxy"} == 0'), books) == "KubeProxyDown"
    # "down" comes only from `up`: a proxy error counter spells no *Down runbook
    assert spelled(alert("rate(kube_proxy_sync_errors_total[5m]) > 0"), books) is None
    # two spelled names: no choice is made
    assert spelled(alert('absent(up{job="kube-proxy"}) or absent(up{job="kube-scheduler"})'),
                   books) is None
    assert spelled(alert(""), books) is None


def runbook(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.md").write_text(f"# {name}\n\n## Meaning\n\n{text}\n")


def test_a_renamed_alert_with_generic_prose_reaches_the_runbook_its_expression_spells(
        tmp_path: Path) -> None:
    for component in ("Proxy", "Scheduler", "ControllerManager"):
        runbook(tmp_path, f"Kube{component}Down",
                f"Kube{component} has disappeared from Prometheus target discovery. The "
                f"{component.lower()} target is down or not scraped.")
    runbook(tmp_path, "KubeSchedulerDown",
            "KubeScheduler has disappeared from Prometheus target discovery. Target discovery "
            "of the scheduler failed: the target disappeared, the scheduler is down.")
    retriever = Retriever(source=FolderSource(tmp_path))
    hits = retriever.search(alert('absent(up{job="kube-proxy"})'))
    assert hits[0].runbook == "KubeProxyDown" and hits[0].retriever == "name"
    assert "KubeSchedulerDown" in [h.runbook for h in hits]
    # without the expression the prose decides
    assert retriever.search(alert(""))[0].runbook == "KubeSchedulerDown"
    # an alert nothing covers stays unanswered, whatever its expression spells
    off_topic = alert('absent(up{job="kube-proxy"})', summary="Invoice totals disagree.")
    assert retriever.search(off_topic) == []


def test_a_word_and_its_longer_form_are_one_word() -> None:
    books = entries("KubeletClientCertificateExpiration", "KubeletClientCertificateRenewalErrors")
    renew = alert("increase(kubelet_certificate_manager_client_expiration_renew_errors[5m]) > 0")
    scores = name_scores(renew, books)
    assert scores["KubeletClientCertificateRenewalErrors"] == 1.0  # `renew` covers Renewal
    # Both names are spelled now, so neither leads: the retrievers that read the prose decide.
    assert spelled(renew, books) is None


def test_an_expression_joining_conditions_with_or_spells_no_single_name() -> None:
    books = entries("KubeDaemonSetMisScheduled", "KubeDaemonSetRolloutStuck")
    one = "kube_daemonset_status_number_misscheduled > 0"
    assert spelled(alert(one), books) == "KubeDaemonSetMisScheduled"
    stuck = (f"({one}) or (kube_daemonset_status_updated_number_scheduled != "
             "kube_daemonset_status_desired_number_scheduled)")
    assert spelled(alert(stuck), books) is None
    assert spelled(alert(f'{one} and on (reason) kube_x{{reason="or"}}'), books) == (
        "KubeDaemonSetMisScheduled")  # a quoted "or" is a value, not the operator


def test_the_alerts_own_words_count_for_the_name_score_but_not_its_figures_or_objects() -> None:
    books = entries("KubeletClientCertificateRenewalErrors", "KubeNodeNotReady", "NodeRAIDDegraded")
    words = alert("", summary="Kubelet has failed to renew its client certificate.")
    scores = name_scores(words, books)
    assert scores["KubeletClientCertificateRenewalErrors"] > 0.5
    assert "NodeRAIDDegraded" not in scores
    assert spelled(words, books) is None  # prose never makes a lead
    def on(node: str, summary: str) -> Alert:
        return parse_alert({"status": "firing", "labels": {"alertname": "X", "node": node},
                            "annotations": {"summary": summary},
                            "startsAt": "2026-11-20T10:00:00Z"}, source="")

    # `raid-7` is an object's name, not a RAID: it adds nothing to "Node is at 99%".
    assert name_scores(on("raid-7", "Node raid-7 is at 99%"), books) == name_scores(
        on("n1", "Node is at 99%"), books)
    assert name_scores(on("n1", "Node raid-7 is at 99%"), books)["NodeRAIDDegraded"] > (
        name_scores(on("n1", "Node is at 99%"), books)["NodeRAIDDegraded"])
