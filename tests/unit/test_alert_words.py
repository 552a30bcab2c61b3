"""The alert's prose as the semantic model reads it (knowledge/query.py): the objects and
figures a summary template filled in are taken out, what names the failure stays."""

from __future__ import annotations

from orchestrator.events import Alert
from orchestrator.ingest.alertmanager import parse_alert
from orchestrator.knowledge.query import objectless, semantic_text, summary_text


def alert(labels: dict[str, str], **annotations: str) -> Alert:
    return parse_alert({"status": "firing", "labels": {"alertname": "Renamed", **labels},
                        "annotations": annotations, "startsAt": "2026-11-20T10:00:00Z"},
                       source="")


NODE = "ip-10-0-29-144.eu-west-1.compute.internal"


def test_object_names_and_figures_leave_the_prose() -> None:
    a = alert({"node": NODE, "cluster": "prod-eu-west-1", "reason": "CreateContainerConfigError"},
              summary="Node is not ready.",
              description=f"{NODE} has been unready for more than 15m on cluster prod-eu-west-1 "
                          "(reason CreateContainerConfigError), 12.47% left, 3 errors.")
    text = objectless(a.annotations["description"], a)
    assert NODE not in text and "prod-eu-west-1" not in text and "compute" not in text
    assert not any(ch.isdigit() for ch in text)
    assert "unready" in text and "CreateContainerConfigError" in text  # a failure mode stays
    assert NODE not in semantic_text(a) and "12.47" not in semantic_text(a)
    assert summary_text(a) == "Node is not ready."


def test_words_with_digits_in_them_are_words() -> None:
    a = alert({})
    assert objectless("HTTP 5xx errors on ipv6 from md0", a).split() == [
        "HTTP", "5xx", "errors", "on", "ipv6", "from", "md0"]


def test_the_headline_is_the_message_when_there_is_no_summary() -> None:
    assert summary_text(alert({}, message="Job failed")) == "Job failed"
    assert summary_text(alert({}, description="only a description")) == ""
