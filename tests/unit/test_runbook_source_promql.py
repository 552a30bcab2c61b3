"""A run-time runbook source leaves out a runbook whose PromQL does not parse, as it leaves out
an unreadable file, but checks the queries only of the runbooks it hands out: an agent whose
alert names one runbook checks that one's, not every runbook's."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.decide.retrieval import ExactFirst
from orchestrator.events import Alert
from orchestrator.knowledge.search import Retriever
from orchestrator.knowledge.source import FolderSource


def _write(folder: Path, name: str, *, alerts: list[str], query: str,
           url_name: str = "") -> None:
    (folder / f"{name}.md").write_text(
        f"---\nid: {name}\ntitle: {name}\nalerts: {alerts}\n---\n"
        f"# {name}\n\n## What it means\n\nThe {name} alert fired.\n\n"
        f"## How to confirm\n\n```promql\n{query}\n```\n")


def _alert(name: str, **annotations: str) -> Alert:
    return Alert(status="firing", labels={"alertname": name}, annotations=annotations,
                 starts_at=datetime(2026, 1, 1, tzinfo=UTC), fingerprint="f")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _write(tmp_path, "good", alerts=["GoodAlert", "SharedAlert"], query="up == 0")
    _write(tmp_path, "broken", alerts=["BrokenAlert", "SharedAlert"], query="rate(x[5m]")
    return tmp_path


def test_a_runbook_whose_promql_does_not_parse_is_never_handed_out(folder: Path) -> None:
    source = FolderSource(folder)
    assert sorted(rb.id for rb in source.listed()) == ["broken", "good"]
    assert [rb.id for rb in source.all()] == ["good"]
    assert source.get("broken") is None
    assert source.get("broken", path="broken.md") is None
    assert source.get("good", path="good.md") is not None


def test_a_duplicate_id_falls_to_the_copy_whose_promql_parses(tmp_path: Path) -> None:
    # Checked at load, the broken first copy would have been skipped and the second kept: a
    # check deferred to hand-out must not leave the id with no runbook at all.
    _write(tmp_path, "a", alerts=["DiskAlert"], query="rate(x[5m]")
    _write(tmp_path, "b", alerts=["DiskAlert"], query="up == 0")
    for f in ("a.md", "b.md"):
        (tmp_path / f).write_text((tmp_path / f).read_text().replace("id: a\n", "id: disk\n")
                                  .replace("id: b\n", "id: disk\n"))
    source = FolderSource(tmp_path)
    assert [(rb.id, rb.path) for rb in source.all()] == [("disk", "b.md")]
    assert source.get("disk") is not None and source.get("disk").path == "b.md"
    _write(tmp_path, "c", alerts=["DiskAlert"], query="up == 1")  # a third, sound copy
    (tmp_path / "c.md").write_text((tmp_path / "c.md").read_text().replace("id: c\n", "id: disk\n"))
    assert [rb.path for rb in FolderSource(tmp_path).all()] == ["b.md"], "the first sound copy"


def test_an_exact_match_checks_only_the_matched_runbook(
        folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = FolderSource(folder)
    kb = ExactFirst(source, lambda: Retriever(source=source))
    with caplog.at_level(logging.WARNING, logger="orchestrator.knowledge.source"):
        hits = kb.search(_alert("GoodAlert"))
    assert [(h.runbook, h.retriever) for h in hits] == [("good", "exact")]
    assert "broken" not in caplog.text, "a runbook no alert named was checked"


def _counting(source: FolderSource) -> tuple[ExactFirst, list[Retriever]]:
    """Exact-first retrieval over `source`, and the full searches it built (none, as long as
    an exact match answers)."""
    built: list[Retriever] = []

    def retriever() -> Retriever:
        built.append(Retriever(source=source))
        return built[-1]

    return ExactFirst(source, retriever), built


def test_an_exact_match_on_a_runbook_with_bad_promql_is_dropped(
        folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    kb, built = _counting(FolderSource(folder))
    with caplog.at_level(logging.WARNING, logger="orchestrator.knowledge.source"):
        shared = kb.search(_alert("SharedAlert"))
    assert [(h.runbook, h.retriever) for h in shared] == [("good", "exact")]
    assert "broken.md (body): line" in caplog.text and "PromQL" in caplog.text
    assert not built, "an exact match needs no search"
    kb.search(_alert("BrokenAlert"))
    assert built, "with its only exact match left out, the alert goes to the full search"
    assert kb.runbook("broken") is None


def test_a_better_url_match_with_bad_promql_leaves_the_next_best(tmp_path: Path) -> None:
    # The runbook_url rule keeps only the longest match: once the nested runbook is left out,
    # the file-name match is what the url names, as if the broken file had never loaded.
    (tmp_path / "team").mkdir()
    _write(tmp_path / "team", "disk", alerts=[], query="rate(x[5m]")
    (tmp_path / "team" / "disk.md").write_text(
        (tmp_path / "team" / "disk.md").read_text().replace("id: disk\n", ""))
    _write(tmp_path, "disk", alerts=[], query="up == 0")
    kb, built = _counting(FolderSource(tmp_path))
    hits = kb.search(_alert("Other", runbook_url="https://wiki/team/disk"))
    assert [(h.runbook, h.retriever) for h in hits] == [("disk", "exact")]
    assert not built, "still an exact match: no search"
