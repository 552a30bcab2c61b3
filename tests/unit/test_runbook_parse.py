"""Runbook files into models: front matter, ids, validation, and chunking by heading."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orchestrator.knowledge.chunks import MAX_CHARS, chunk_runbook
from orchestrator.knowledge.runbook import (
    Predicate,
    RunbookAction,
    RunbookError,
    load_folder,
    parse_runbook,
)
from orchestrator.plan import ACTION_TYPES
from orchestrator.resources import runbooks_dir

PACKAGED = sorted(runbooks_dir().glob("*.md"))

GOOD = """---
id: disk_full
title: Disk is full
alerts: [DiskFull, DiskAlmostFull]
severity_hint: critical
actions:
  - type: delete_pod
    risk: low
    target: pod
    why: A fresh pod gets a fresh emptyDir.
    when:
      - {fact: container.restart_count, op: gte, value: 3}
      - {fact: node.condition.DiskPressure, op: eq, value: "True"}
      - {fact: owner.kind, op: in, value: [Deployment, StatefulSet]}
      - {fact: pod.node, op: exists}
  - type: scale
    risk: medium
    target: owner
    params: {step: 1, max_replicas: 10}
    why: More replicas spread the writes.
    when:
      - {fact: workload.managed_by_hpa, op: eq, value: false}
---

## What it means

The disk is full.

## What to do

1. Free space.
"""


def test_front_matter_and_body_become_a_runbook() -> None:
    rb = parse_runbook(GOOD, path="disk_full.md")
    assert (rb.id, rb.title, rb.alerts, rb.severity_hint) == (
        "disk_full", "Disk is full", ["DiskFull", "DiskAlmostFull"], "critical")
    restart, scale = rb.actions
    assert isinstance(restart, RunbookAction)
    assert (restart.type, restart.risk, restart.target) == ("delete_pod", "low", "pod")
    assert restart.when[0] == Predicate(fact="container.restart_count", op="gte", value=3)
    assert restart.when[1].value == "True"  # quoted condition stays a string
    assert restart.when[2].value == ["Deployment", "StatefulSet"]
    assert restart.when[3].op == "exists" and restart.when[3].value is None
    assert scale.params == {"step": 1, "max_replicas": 10}
    assert rb.body.startswith("## What it means") and rb.body.endswith("1. Free space.\n")
    assert rb.content_hash == hashlib.sha256(GOOD.encode()).hexdigest()
    assert rb.path == "disk_full.md" and rb.name == "disk_full"


def test_models_are_frozen() -> None:
    rb = parse_runbook(GOOD, path="disk_full.md")
    with pytest.raises(ValueError, match="frozen"):
        rb.id = "other"  # type: ignore[misc]


def test_without_front_matter_the_id_is_the_path_and_the_title_the_first_heading() -> None:
    rb = parse_runbook("# KubeFooDown\n\n## Meaning\n\nFoo is down.\n", path="team/KubeFooDown.md")
    assert (rb.id, rb.title, rb.alerts, rb.actions) == ("team/KubeFooDown", "KubeFooDown", [], [])
    assert rb.name == "KubeFooDown"


def test_front_matter_without_id_keeps_the_path_id() -> None:
    # prometheus-operator's runbooks carry Hugo front matter (title, weight) but no id.
    rb = parse_runbook("---\ntitle: Kube Foo Down\nweight: 20\n---\n# KubeFooDown\n",
                       path="kubernetes/KubeFooDown.md")
    assert (rb.id, rb.title) == ("kubernetes/KubeFooDown", "Kube Foo Down")


def test_without_a_front_matter_title_the_first_level_one_heading_is_the_title() -> None:
    rb = parse_runbook("---\nid: disk\n---\nIntro.\n\n## Meaning\n\n# Disk is full ##\n\n"
                       "# Second\n", path="team/disk.md")
    assert rb.title == "Disk is full"


def test_plain_text_without_any_heading_uses_the_file_stem() -> None:
    assert parse_runbook("just words", path="notes/misc.md").title == "misc"


def test_crlf_and_bom_are_tolerated() -> None:
    raw = ("\ufeff" + GOOD.replace("\n", "\r\n")).encode()
    rb = parse_runbook(raw, path="disk_full.md")
    assert rb.id == "disk_full" and "\r" not in rb.body
    assert rb.content_hash == hashlib.sha256(raw).hexdigest()


def test_a_single_alert_string_is_a_list() -> None:
    assert parse_runbook("---\nalerts: OnlyOne\n---\nx\n", path="a.md").alerts == ["OnlyOne"]


@pytest.mark.parametrize(("bad", "message"), [
    ("---\nid: [unclosed\n---\n", "not valid YAML"),
    ("---\n- a list\n---\n", "must be a mapping"),
    ("---\nactions:\n  - {type: reboot_node, risk: low, target: node, why: x, when: "
     "[{fact: a, op: exists}]}\n---\n", "actions.0.type"),
    ("---\nactions:\n  - {type: delete_pod, risk: extreme, target: pod, why: x, when: "
     "[{fact: a, op: exists}]}\n---\n", "actions.0.risk"),
    ("---\nactions:\n  - {type: delete_pod, risk: low, target: pod, why: x, when: []}\n---\n",
     "actions.0.when"),
    ("---\nactions:\n  - {type: delete_pod, risk: low, target: pod, when: "
     "[{fact: a, op: exists}]}\n---\n", "actions.0.why"),
    ("---\nactions:\n  - {type: delete_pod, risk: low, target: pod, why: x, surprise: 1, when: "
     "[{fact: a, op: exists}]}\n---\n", "surprise"),
    ("---\nactions:\n  - {type: delete_pod, risk: low, target: pod, why: x, when: "
     "[{fact: a, op: gt, value: many}]}\n---\n", "needs a number"),
    ("---\nactions:\n  - {type: delete_pod, risk: low, target: pod, why: x, when: "
     "[{fact: a, op: in, value: Error}]}\n---\n", "needs a list"),
    ("---\nactions:\n  - {type: delete_pod, risk: low, target: pod, why: x, when: "
     "[{fact: a, op: exists, value: 1}]}\n---\n", "takes no value"),
    ("---\nactions:\n  - {type: delete_pod, risk: low, target: pod, why: x, when: "
     "[{fact: a, op: eq}]}\n---\n", "needs a value"),
    ("---\nactions:\n  - {type: delete_pod, risk: low, target: pod, why: x, when: "
     "[{fact: a, op: gte, value: true}]}\n---\n", "needs a number"),
])
def test_invalid_runbooks_are_refused_with_the_file_named(bad: str, message: str) -> None:
    with pytest.raises(RunbookError, match=message) as err:
        parse_runbook(bad, path="broken.md")
    assert str(err.value).startswith("broken.md: ")
    assert err.value.status == 400


def test_non_utf8_is_refused() -> None:
    with pytest.raises(RunbookError, match="not UTF-8"):
        parse_runbook(b"\xff\xfe\x00bad", path="bin.md")


def test_load_folder_ids_nesting_duplicates_and_leniency(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "notes.md").write_text("## Hello\n\nworld\n")
    (tmp_path / "disk_full.md").write_text(GOOD)
    (tmp_path / ".hidden.md").write_text("ignored")
    (tmp_path / "readme.txt").write_text("not markdown")
    assert [rb.id for rb in load_folder(tmp_path)] == ["disk_full", "team/notes"]

    (tmp_path / "copy.md").write_text(GOOD)  # same front-matter id as disk_full.md
    with pytest.raises(RunbookError, match="already used by"):
        load_folder(tmp_path)
    (tmp_path / "copy.md").write_text("---\nid: [bad\n---\n")
    with pytest.raises(RunbookError, match="copy.md"):
        load_folder(tmp_path)
    assert [rb.id for rb in load_folder(tmp_path, strict=False)] == ["disk_full", "team/notes"]


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="does not exist"):
        load_folder(tmp_path / "nope")


def test_chunks_follow_sections_not_code_or_subsections() -> None:
    body = ("# Title heading\n\nIntro line.\n\n## First\n\nText one.\n\n```sh\n## not a heading\n"
            "```\n\n### Sub\n\nStill first.\n\n## First\n\nAgain.\n\n## Empty\n\n")
    rb = parse_runbook(body, path="x.md")
    chunks = chunk_runbook(rb)
    assert [c.heading for c in chunks] == ["Title heading", "First", "First"]
    assert [c.chunk_id for c in chunks] == ["x#title-heading", "x#first", "x#first-2"]
    assert "## not a heading" in chunks[1].text and "### Sub" in chunks[1].text
    assert len({c.point_id for c in chunks}) == 3
    assert all(c.runbook == "x" and c.content_hash == rb.content_hash for c in chunks)


def test_long_sections_are_cut_at_paragraphs() -> None:
    para = "word " * 200
    rb = parse_runbook("## Long\n\n" + "\n\n".join([para] * 10), path="long.md")
    chunks = chunk_runbook(rb)
    assert len(chunks) > 1 and all(len(c.text) <= MAX_CHARS for c in chunks)
    assert {c.heading for c in chunks} == {"Long"}


@pytest.mark.parametrize("path", PACKAGED, ids=lambda p: p.stem)
def test_packaged_runbooks_follow_the_format(path: Path) -> None:
    rb = parse_runbook(path.read_bytes(), path=path.name)
    assert rb.id == path.stem, "file name = id + .md"
    assert rb.alerts, "every packaged runbook names the alerts it covers"
    assert rb.body.startswith("## What it means")
    headings = [c.heading for c in chunk_runbook(rb)]
    assert headings[:4] == ["What it means", "How to confirm", "What to do",
                            "When NOT to act automatically"]
    for action in rb.actions:
        assert action.type in ACTION_TYPES and action.when


def test_packaged_alertnames_are_unique_across_runbooks() -> None:
    owners: dict[str, str] = {}
    for rb in load_folder(runbooks_dir()):
        for name in rb.alerts:
            assert name not in owners, f"{name} in {owners.get(name)} and {rb.id}"
            owners[name] = rb.id
    assert len(PACKAGED) == 16
