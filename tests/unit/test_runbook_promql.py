"""Runbook PromQL is checked at index time: a bad query fails with the runbook and its line, and
the checker agrees with Prometheus' own parser (promtool) on the packaged runbooks and on typos."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from orchestrator.knowledge.promql import PromQLError, check, queries
from orchestrator.knowledge.runbook import RunbookError, load_folder, parse_runbook
from orchestrator.resources import runbooks_dir

GOOD = [
    'up == 0',
    'sum by (pod) (rate(x_total{namespace="shop", code=~"5.."}[5m])) / on (pod) group_left y',
    'histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))',
    'max_over_time(x[1h:5m] offset 10m)',
    '-x ^ 2 > bool 3',
    '(certmanager_certificate_expiration_timestamp_seconds - time()) / 86400',
    'topk(3, count_values("v", build_info))',
    'absent(up{job="api"})',
    # keywords and aggregations in any case, as Prometheus' lexer reads them
    'sum(avg_over_time(x[5m])) BY (namespace, pod) * ON(pod) GROUP_LEFT(node) y',
    'SUM WITHOUT (instance) (x) AND Y',
]
BAD = [
    'rate(x[5m]',
    'sum(rate(x[5m])) /',
    'x{a=b}',
    'ratee(x[5m])',
    'x[5]',
    'sum by pod (x)',
    'x > > 1',
    'x{a="b"',
    'x y',
    'rate(x[5m]) ) ',
    'rate(x[5m]) offset 1h',
    'sum(x)[5m]',
]


def _runbook(query_lines: str) -> str:
    return ("---\nid: probe\ntitle: Probe\nalerts: [Probe]\nactions: []\n---\n"
            "## What it means\n\nA probe.\n\n## How to confirm\n\n"
            f"```promql\n{query_lines}\n```\n")


@pytest.mark.parametrize("query", GOOD)
def test_valid_queries_pass(query: str) -> None:
    check(query)


@pytest.mark.parametrize("query", BAD)
def test_invalid_queries_fail(query: str) -> None:
    with pytest.raises(PromQLError):
        check(query)


def test_a_bad_query_fails_parsing_with_the_runbook_and_its_line() -> None:
    text = _runbook('up == 0\nsum(rate(http_requests_total{namespace="$NS"}[5m]) by (code)\n')
    with pytest.raises(RunbookError) as caught:
        parse_runbook(text, path="probe.md")
    line = text.splitlines().index(
        'sum(rate(http_requests_total{namespace="$NS"}[5m]) by (code)') + 1
    assert str(caught.value).startswith(f"probe.md: line {line}: PromQL ")
    assert "http_requests_total" in str(caught.value)


def test_a_bad_query_fails_strict_indexing_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "probe.md").write_text(_runbook("rate(x[5m]"))
    with pytest.raises(RunbookError, match=r"probe\.md: line 14: PromQL expected \)"):
        load_folder(tmp_path, strict=True)


def test_wrapped_queries_are_one_query() -> None:
    body = "```promql\nsum(a)\n  / sum(b)\nmax(c)\n  / on (pod)\nmax(d)\nup\n```\n"
    assert [(q.text.split(), q.line) for q in queries(body)] == [
        (["sum(a)", "/", "sum(b)"], 2), (["max(c)", "/", "on", "(pod)", "max(d)"], 4),
        (["up"], 7)]


def test_a_line_opening_with_an_operator_continues_the_query() -> None:
    """As upstream runbooks wrap a ratio: `/ sum(...)` and `and on() ...` at a line's start."""
    body = ("```promql\n100 * sum without(code)\n(rate(a[5m]))\n/ sum without(code)\n"
            "(rate(b[5m])) > 5 AND on()\n(c == bool 1)\n-x\n```\n")
    found = queries(body)
    assert [q.line for q in found] == [2, 7]
    for q in found:
        check(q.text)


def test_only_promql_blocks_are_read() -> None:
    body = "```sh\nkubectl get pods(\n```\n```promql\nup\n```\n"
    assert [q.text for q in queries(body)] == ["up"]


def _promtool_accepts(exprs: list[str], folder: Path) -> list[bool]:
    """promtool's verdict on each expression, one rule file each (placeholders filled in)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run scripts/setup --test")
    out = []
    for n, expr in enumerate(exprs):
        filled = re.sub(r"\$([A-Z][A-Z0-9_]*)", lambda m: m.group(1).lower(), expr)
        path = folder / f"r{n}.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
            {"record": "probe", "expr": filled}]}]}))
        done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                              timeout=30)
        out.append(done.returncode == 0)
    return out


def test_the_checker_agrees_with_promtool(tmp_path: Path) -> None:
    packaged = [q.text for rb in load_folder(runbooks_dir()) for q in queries(rb.body)]
    assert len(packaged) > 40
    exprs = packaged + GOOD + BAD
    ours = []
    for e in exprs:
        try:
            check(e)
            ours.append(True)
        except PromQLError:
            ours.append(False)
    theirs = _promtool_accepts(exprs, tmp_path)
    disagree = [(e, o, t) for e, o, t in zip(exprs, ours, theirs, strict=True) if o != t]
    assert disagree == []
    assert ours == [True] * (len(packaged) + len(GOOD)) + [False] * len(BAD)
