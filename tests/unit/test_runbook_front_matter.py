"""The packaged runbooks carry their front matter pre-parsed (`front-matter.json`), so reading
them needs no YAML parser; an entry counts only for the exact bytes it was parsed from."""

from __future__ import annotations

import json
import logging
import shutil
from hashlib import sha256
from pathlib import Path

import pytest

from orchestrator.knowledge import front_matter
from orchestrator.knowledge.runbook import load_folder
from orchestrator.knowledge.source import FolderSource
from orchestrator.resources import runbooks_dir


def test_the_packaged_front_matter_is_up_to_date() -> None:
    assert front_matter.main(["--check", str(runbooks_dir())]) == 0, (
        "run: python -m orchestrator.knowledge.front_matter runbooks")


def test_every_packaged_runbook_reads_the_same_with_or_without_it() -> None:
    folder = runbooks_dir()
    known = front_matter.read(folder).front_matter
    assert len(known) == len(load_folder(folder)), "every packaged runbook has an entry"
    with_json = load_folder(folder, known=known)
    assert [rb.model_dump() for rb in with_json] == [
        rb.model_dump() for rb in load_folder(folder)]
    # key order too: an action's params are shown to humans, and signed, in this order
    assert [json.dumps(rb.model_dump(mode="json")) for rb in with_json] == [
        json.dumps(rb.model_dump(mode="json")) for rb in load_folder(folder)]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    shutil.copytree(runbooks_dir(), folder)
    return folder


def test_an_entry_is_used_for_the_bytes_it_was_parsed_from(copy: Path) -> None:
    # A wrong entry filed under a file's hash is what gets read: proof the YAML was not parsed.
    file = copy / "k8s_crashloop.md"
    table = json.loads((copy / front_matter.FILE).read_text())
    entry = table["runbooks"][sha256(file.read_bytes()).hexdigest()]
    entry["title"] = "Title from the JSON"
    (copy / front_matter.FILE).write_text(json.dumps(table))
    rb = FolderSource(copy).get("k8s_crashloop")
    assert rb is not None and rb.title == "Title from the JSON"


def test_an_edited_runbook_is_parsed_from_its_yaml(copy: Path) -> None:
    file = copy / "k8s_crashloop.md"
    text = file.read_text(encoding="utf-8")
    assert "\ntitle: " in text
    file.write_text(text.replace("\ntitle: ", "\ntitle: Edited ", 1), encoding="utf-8")
    rb = FolderSource(copy).get("k8s_crashloop")
    assert rb is not None and rb.title.startswith("Edited ")


def test_a_missing_or_unreadable_file_means_yaml_for_all(copy: Path) -> None:
    (copy / front_matter.FILE).write_text("{not json")
    assert front_matter.read(copy) == front_matter.Table()
    assert [rb.id for rb in FolderSource(copy).all()] == [rb.id for rb in load_folder(copy)]
    (copy / front_matter.FILE).unlink()
    assert front_matter.read(copy) == front_matter.Table()
    assert len(FolderSource(copy).all()) == len(load_folder(copy))
    assert front_matter.main(["--check", str(copy)]) == 1


def _plant(folder: Path, file: str, problems: list[str]) -> None:
    """File `problems` as what checking `file`'s PromQL found."""
    table = json.loads((folder / front_matter.FILE).read_text())
    table["promql"][sha256((folder / file).read_bytes()).hexdigest()] = problems
    (folder / front_matter.FILE).write_text(json.dumps(table))


def test_a_promql_verdict_is_used_for_the_bytes_it_was_found_for(
        copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A problem filed under a file's hash is what counts: proof its queries were not checked.
    _plant(copy, "k8s_crashloop.md", ["line 3: PromQL planted problem: up =="])
    source = FolderSource(copy)
    with caplog.at_level(logging.WARNING, logger="orchestrator.knowledge.source"):
        assert source.get("k8s_crashloop") is None
        assert source.get("k8s_crashloop", path="k8s_crashloop.md") is None
    assert "k8s_crashloop.md (body): line 3: PromQL planted problem" in caplog.text
    assert "k8s_crashloop" in [rb.id for rb in source.listed()]
    assert "k8s_crashloop" not in [rb.id for rb in source.all()]
    assert source.get("k8s_oomkilled") is not None, "the others' verdicts stand"


def test_an_edited_runbook_s_promql_is_checked_again(copy: Path) -> None:
    file = copy / "k8s_crashloop.md"
    text = file.read_text(encoding="utf-8")
    assert "```promql\n" in text
    file.write_text(text.replace("```promql\n", "```promql\nrate(x[5m]\n", 1), encoding="utf-8")
    assert FolderSource(copy).get("k8s_crashloop") is None


def test_the_packaged_promql_verdicts_are_what_the_checker_finds(copy: Path) -> None:
    table = front_matter.read(copy)
    assert len(table.promql) == len(load_folder(copy)), "every packaged runbook has a verdict"
    assert all(problems == [] for problems in table.promql.values())
    _plant(copy, "k8s_crashloop.md", ["line 3: PromQL planted problem: up =="])
    assert front_matter.main(["--check", str(copy)]) == 1, "a wrong verdict is stale"


def test_a_runbook_whose_promql_does_not_parse_is_filed_with_its_problems(copy: Path) -> None:
    broken = copy / "broken.md"
    broken.write_text("---\nid: broken\n---\n# Broken\n\n```promql\nrate(x[5m]\n```\n")
    assert front_matter.main([str(copy)]) == 0
    problems = front_matter.read(copy).promql[sha256(broken.read_bytes()).hexdigest()]
    assert len(problems) == 1 and "line 4: PromQL" in problems[0], problems
    assert FolderSource(copy).get("broken") is None


def test_verdicts_of_another_checker_version_are_not_trusted(copy: Path) -> None:
    """A folder indexed before an upgrade: its `[]` may be what an older checker found."""
    broken = copy / "broken.md"
    broken.write_text("---\nid: broken\n---\n# Broken\n\n```promql\nrate(x[5m]\n```\n")
    _plant(copy, "broken.md", [])  # as an older checker, blind to the missing parenthesis
    assert FolderSource(copy).get("broken") is not None, "the same checker's word is taken"
    table = json.loads((copy / front_matter.FILE).read_text())
    table["checker"] = "0" * 64
    (copy / front_matter.FILE).write_text(json.dumps(table))
    assert front_matter.read(copy).promql == {}
    assert front_matter.read(copy).front_matter, "the parsed front matter still counts"
    assert FolderSource(copy).get("broken") is None, "checked again, and refused"


def test_a_file_nested_too_deep_is_ignored_not_fatal(copy: Path) -> None:
    (copy / front_matter.FILE).write_text("[" * 200_000)
    assert front_matter.read(copy) == front_matter.Table()
    assert len(FolderSource(copy).all()) == len(load_folder(copy))
