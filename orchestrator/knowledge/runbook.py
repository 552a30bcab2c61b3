"""Runbooks as data: markdown with YAML front matter, parsed into frozen models.

The front matter is machine-read (which alerts a runbook covers, which actions it allows and
when); the body is chunked for retrieval and cited in plans. Any markdown folder can be indexed:
a file without front matter (or without an `id`) gets the id of its path under the folder, minus
`.md`, so third-party runbook collections are searchable as they are.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from orchestrator.errors import PermanentError
from orchestrator.models import Frozen
from orchestrator.plan import ActionType, Risk

log = logging.getLogger(__name__)

Op = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "missing"]
Target = Literal["alerted", "pod", "owner", "node", "job"]

_FRONT = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_H1 = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


class RunbookError(PermanentError):
    """A runbook file that cannot be parsed or breaks the format (docs/runbook-format.md)."""


class Predicate(Frozen):
    """`{fact, op, value}`: one condition over the enriched context; see docs/runbook-format.md."""

    fact: str = Field(min_length=1)
    op: Op
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Predicate:
        if self.op in ("exists", "missing"):
            if self.value is not None:
                raise ValueError(f"{self.op} takes no value")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, list):
                raise ValueError(f"{self.op} needs a list value")
        elif self.op in ("gt", "gte", "lt", "lte"):
            if isinstance(self.value, bool) or not isinstance(self.value, int | float):
                raise ValueError(f"{self.op} needs a number")
        elif self.value is None:
            raise ValueError(f"{self.op} needs a value")
        return self


class RunbookAction(Frozen):
    """A remediation the runbook allows, its risk, and when it applies (all of `when` hold)."""

    type: ActionType
    risk: Risk
    target: Target
    params: dict[str, int | str] = {}
    why: str = Field(min_length=1)
    when: list[Predicate] = Field(min_length=1)


class Runbook(Frozen):
    """One parsed runbook file."""

    id: str = Field(min_length=1)
    title: str
    alerts: list[str] = []
    actions: list[RunbookAction] = []
    shows: list[Predicate] = []
    """The cluster state this runbook is about (all hold), e.g. `container.waiting_reason eq
    CrashLoopBackOff`: when the alert's runbook declares a state the cluster contradicts, the
    agent follows the runbook whose declared state the cluster does show (decide/evidence.py)."""
    severity_hint: Literal["info", "warning", "critical"] | None = None
    body: str
    path: str
    """Path under the indexed folder, POSIX separators: also the object-store key suffix."""
    content_hash: str
    """SHA-256 of the raw file: hydration skips a runbook whose hash is already indexed."""

    @field_validator("alerts", mode="before")
    @classmethod
    def _one_alert_is_a_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @property
    def name(self) -> str:
        """The file name without `.md`: an alertname in collections named by alert."""
        return Path(self.path).name.removesuffix(".md")


def runbook_id_for(path: str) -> str:
    """The id of a runbook without a front-matter `id`: its relative path without `.md`."""
    return path.removesuffix(".md")


def split_front_matter(text: str, *, parsed: Mapping[str, Any] | None = None
                       ) -> tuple[dict[str, Any], str]:
    """(front matter mapping, body). No front matter is an empty mapping, not an error.
    `parsed`: the front matter as this same text's YAML parses (`front_matter.py`)."""
    m = _FRONT.match(text)
    if not m:
        return {}, text
    if parsed is not None:
        return dict(parsed), text[m.end():]
    import yaml  # only where front matter is read: an executor that reads no runbook skips it

    try:
        # libyaml's safe loader when PyYAML has it (its wheels do): the agent parses every
        # runbook's front matter on its first request, 8x faster than in pure Python.
        front = m.group(1) or ""
        meta = (yaml.load(front, Loader=yaml.CSafeLoader) if yaml.__with_libyaml__
                else yaml.safe_load(front)) or {}
    except yaml.YAMLError as e:
        raise RunbookError(f"front matter is not valid YAML: {e}") from e
    if not isinstance(meta, dict):
        raise RunbookError("front matter must be a mapping")
    return meta, text[m.end():]


def parse_runbook(raw: bytes | str, *, path: str, promql: bool = True,
                  known: Mapping[str, Mapping[str, Any]] | None = None) -> Runbook:
    """Parse one file's content; `path` is its path under the indexed folder. `promql=False`
    leaves its PromQL unchecked: the caller checks it (`check_promql`) before the runbook is
    used, as the run-time sources do (`orchestrator.knowledge.source`). `known`: front matter
    already parsed, by the SHA-256 of the file it came from (`front_matter.py`)."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RunbookError(f"{path}: not UTF-8 text") from e
    text = text.replace("\r\n", "\n")
    content_hash = hashlib.sha256(data).hexdigest()
    try:
        meta, body = split_front_matter(text, parsed=(known or {}).get(content_hash))
        if promql:
            _check_promql(body, first_line=text[:len(text) - len(body)].count("\n") + 1)
        title = meta.get("title") or _heading(body) or Path(path).stem
        return Runbook(
            id=str(meta.get("id") or runbook_id_for(path)),
            title=str(title).strip(),
            alerts=meta.get("alerts") or [],
            actions=meta.get("actions") or [],
            shows=meta.get("shows") or [],
            severity_hint=meta.get("severity_hint"),
            body=body.strip("\n") + "\n",
            path=path,
            content_hash=content_hash,
        )
    except ValidationError as e:
        raise RunbookError(f"{path}: {_short(e)}") from e
    except RunbookError as e:
        if str(e).startswith(path):
            raise
        raise RunbookError(f"{path}: {e}") from e


def _heading(body: str) -> str | None:
    """The body's first level-1 heading. Looked for only without a front-matter title: the
    search tries every character of the body, 5 M instructions for the sixteen packaged ones."""
    h1 = _H1.search(body)
    return h1.group(1) if h1 else None


def _check_promql(body: str, *, first_line: int) -> None:
    """A runbook's PromQL must parse: the router runs it during incidents (see promql.py)."""
    from orchestrator.knowledge.promql import check_body

    problems = check_body(body, first_line=first_line)
    if problems:
        raise RunbookError("; ".join(problems))


def promql_problems(rb: Runbook) -> list[str]:
    """What is wrong with `rb`'s PromQL, lines counted in its body: nothing when it parses."""
    from orchestrator.knowledge.promql import check_body

    return check_body(rb.body, first_line=1)


def check_promql(rb: Runbook, *, known: Mapping[str, list[str]] | None = None) -> None:
    """Raise `RunbookError` when `rb`'s PromQL does not parse (lines counted in its body), for
    a runbook parsed with `promql=False`. `known`: `promql_problems` already found, by the
    SHA-256 of the file (`front_matter.py`); a file listed there is not checked again."""
    problems = (known or {}).get(rb.content_hash)
    if problems is None:
        problems = promql_problems(rb)
    if problems:
        raise RunbookError(f"{rb.path} (body): {'; '.join(problems)}")


def _short(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def iter_markdown(folder: Path) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, file) for every `*.md` under `folder`, sorted, hidden files skipped."""
    for file in sorted(folder.rglob("*.md")):
        rel = file.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not file.is_file():
            continue
        yield rel.as_posix(), file


def load_folder(folder: Path, *, strict: bool = True, promql: bool = True,
                known: Mapping[str, Mapping[str, Any]] | None = None) -> list[Runbook]:
    """Every runbook under `folder`, sorted by path.

    `strict` (indexing) raises on the first bad file or duplicate id, because a broken runbook
    should fail the init Job loudly; otherwise (the read-only fallback at run time) bad files
    are logged and skipped so one typo cannot blind the agent to the other runbooks.
    `promql=False` and `known`: see `parse_runbook`.
    """
    if not folder.is_dir():
        raise RunbookError(f"runbook folder {folder} does not exist")
    found: dict[str, Runbook] = {}
    for rel, file in iter_markdown(folder):
        try:
            rb = parse_runbook(file.read_bytes(), path=rel, promql=promql, known=known)
        except RunbookError as e:
            if strict:
                raise
            log.warning("skipping runbook: %s", e)
            continue
        duplicate = file_unique(found, rb, promql_checked=promql)
        if duplicate is not None:
            if strict:
                raise RunbookError(duplicate)
            log.warning("skipping runbook: %s", duplicate)
    return list(found.values())


def file_unique(found: dict[str, Runbook], rb: Runbook, *, promql_checked: bool) -> str | None:
    """File `rb` under its id in `found`; on a duplicate id, say which copy was left out.

    The first copy stands, as a folder lists them, except when PromQL is checked only at
    hand-out (`promql_checked=False`): a first copy whose PromQL does not parse then gives way to
    a later one whose does, as it would have if it had been checked at load (skipped), rather
    than leave the id with no runbook at all."""
    first = found.get(rb.id)
    if first is None:
        found[rb.id] = rb
        return None
    if not promql_checked and not _parses(first) and _parses(rb):
        found[rb.id] = rb
        return (f"{first.path}: its PromQL does not parse, and {rb.path} has the same id "
                f"{rb.id!r}")
    return f"{rb.path}: id {rb.id!r} already used by {first.path}"


def _parses(rb: Runbook) -> bool:
    try:
        check_promql(rb)
    except RunbookError:
        return False
    return True
