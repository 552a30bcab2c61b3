"""A runbook folder's front matter, parsed ahead of time: `front-matter.json` beside the files.

A cold agent reads every runbook on its first event, and the YAML parser is most of that cost:
importing PyYAML alone takes about 90 M instructions (its pure-Python reader compiles a large
Unicode regex at import), more than the rest of reading sixteen runbooks. So the packaged
folder carries each file's front matter as JSON, filed under the SHA-256 of the file: an entry
is used only for the very bytes it was parsed from, so an edited, added or foreign runbook is
parsed from its YAML as before, and no entry can outlive its file. The entries are what YAML
parsed, nothing more: the runbook is still validated as any other.

Beside them, under the same hashes, what checking each runbook's PromQL found (`promql`: the
problems, none when it parses): the agent checks the queries of the runbook it hands out, and
the checker (its tokenizer's regular expressions compiled, then the parse) cost a cold agent
about 14 M instructions for one runbook. A file without an entry is checked as before. A
verdict is the checker's of one version, so the file also carries the SHA-256 of the checker's
source (`checker`): verdicts written by another version, say a folder indexed before an upgrade,
are ignored and each runbook is checked as it is handed out. The freshness test rebuilds the
packaged file.

`python -m orchestrator.knowledge.front_matter FOLDER` writes the file (`--check`: exits 1 when
it is out of date); tests/unit/test_runbook_front_matter.py fails when the packaged one is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE = "front-matter.json"
CHECKER = Path(__file__).with_name("promql.py")
"""The PromQL checker, whose source the verdicts are tied to (it imports only `re`)."""


def checker_digest() -> str:
    return hashlib.sha256(CHECKER.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Table:
    """A folder's `front-matter.json`, by the SHA-256 of each runbook file."""

    front_matter: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Its front matter as its YAML parses."""
    promql: dict[str, list[str]] = field(default_factory=dict)
    """What checking its PromQL found (`runbook.promql_problems`): empty when it parses."""


def read(folder: Path) -> Table:
    """`folder`'s `front-matter.json`; empty when there is none or it cannot be read (then
    every file's YAML is parsed, and its PromQL checked, as it is handed out)."""
    try:
        found = json.loads((folder / FILE).read_bytes())
    except FileNotFoundError:
        return Table()
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: nested too deep
        log.warning("ignoring %s: %s", folder / FILE, e)
        return Table()
    if not isinstance(found, dict) or not isinstance(found.get("runbooks"), dict):
        log.warning("ignoring %s: not a front matter file", folder / FILE)
        return Table()
    promql = found.get("promql")
    if promql and found.get("checker") != checker_digest():
        log.info("%s: its PromQL verdicts are another checker version's: checking again",
                 folder / FILE)
        promql = None
    return Table(
        front_matter={k: v for k, v in found["runbooks"].items() if isinstance(v, dict)},
        promql={k: v for k, v in promql.items()
                if isinstance(v, list) and all(isinstance(p, str) for p in v)}
        if isinstance(promql, dict) else {})


def build(folder: Path) -> dict[str, Any]:
    """The content of `folder`'s `front-matter.json`: every runbook whose front matter JSON
    carries exactly (a date or a non-string key does not: that file is left to YAML)."""
    from orchestrator.knowledge.runbook import (
        RunbookError,
        iter_markdown,
        parse_runbook,
        promql_problems,
        split_front_matter,
    )

    entries: dict[str, Any] = {}
    promql: dict[str, list[str]] = {}
    for rel, file in iter_markdown(folder):
        data = file.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        try:
            meta, _ = split_front_matter(data.decode("utf-8-sig").replace("\r\n", "\n"))
            promql[digest] = promql_problems(parse_runbook(data, path=rel, promql=False))
        except (RunbookError, UnicodeDecodeError):
            continue  # parsing it reports the error at run time, as before
        if meta and json.loads(json.dumps(meta, default=repr)) == meta:
            entries[digest] = meta
    return {"about": "parsed runbook front matter, and the problems of its PromQL (none: it "
                     "parses), by SHA-256 of the file; written by "
                     "python -m orchestrator.knowledge.front_matter",
            "runbooks": dict(sorted(entries.items())),
            "checker": checker_digest(),
            "promql": dict(sorted(promql.items()))}


def text(folder: Path) -> str:
    return json.dumps(build(folder), indent=1) + "\n"  # key order as written in the YAML


def main(argv: list[str]) -> int:
    check = "--check" in argv
    folders = [Path(a) for a in argv if a != "--check"]
    if len(folders) != 1:
        print("usage: python -m orchestrator.knowledge.front_matter [--check] FOLDER",
              file=sys.stderr)
        return 2
    folder, want = folders[0], text(folders[0])
    target = folder / FILE
    if check:
        if not target.is_file() or target.read_text() != want:
            print(f"{target} is out of date: run python -m orchestrator.knowledge.front_matter "
                  f"{folder}", file=sys.stderr)
            return 1
        return 0
    target.write_text(want)
    print(f"wrote {target} ({len(json.loads(want)['runbooks'])} runbooks)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
