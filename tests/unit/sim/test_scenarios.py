"""The packaged scenario suite: it loads, it is big enough, every runbook's fault appears in
at least two variants, the demo finds its four roles, and a malformed file is a clear error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from orchestrator.knowledge.runbook import load_folder
from orchestrator.sim.scenario import load, load_all, packaged_dir

ROOT = Path(__file__).resolve().parents[3]


def test_the_suite_covers_every_runbook_twice_and_the_special_cases() -> None:
    suite = load_all()
    assert len(suite) >= 40
    runbooks = {rb.id for rb in load_folder(ROOT / "runbooks")}
    per_runbook = Counter(s.family for s in suite if s.family in runbooks)
    assert {r: per_runbook[r] for r in runbooks if per_runbook[r] < 2} == {}
    families = Counter(s.family for s in suite)
    for special in ("control", "refusal", "preferred_refused", "contradicts_alert"):
        assert families[special] >= 2, special
    assert {s.demo for s in suite if s.demo} == {"applied", "approval", "refused", "escalated"}
    for s in suite:
        assert s.expect.runbook is None or s.expect.runbook in runbooks, s.name


def test_a_typo_in_a_scenario_is_a_clear_error(tmp_path: Path) -> None:
    text = (packaged_dir() / "crashloop-one-replica.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("until_replaced:", "until_replace:"))
    with pytest.raises(ValueError, match=r"(?s)bad.yaml.*fault.until_replace"):
        load(bad)
    bad.write_text(text.replace("kind: crash", "kind: crashes"))
    with pytest.raises(ValueError, match=r"fault\.kind"):
        load(bad)
