"""Where the raw runbooks are read from at run time: the object store, or a folder.

The index holds chunks for search; the agent also needs whole runbooks (their actions and
predicates), and when Qdrant is down it has nothing else. Files are re-read at most once per
`ttl` seconds, so a long-lived process sees an updated knowledge base without a restart.

A runbook whose PromQL does not parse is left out, as an unreadable file is; its PromQL is
checked when the runbook is first handed out (`all`, `get`), not when the files are read:
matching an alert against the front matter (`listed`) needs no query checked, and a cold agent
whose alert names one runbook then checks that runbook's queries, not every runbook's. Verdicts
are kept per file content (its hash), so an edited runbook is checked again. A folder's
`front-matter.json` (the packaged one has it) spares parsing its files' YAML, and checking the
PromQL of the files it lists: `front_matter.py`.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.errors import TransientError
from orchestrator.knowledge import front_matter
from orchestrator.knowledge.runbook import (
    Runbook,
    RunbookError,
    check_promql,
    file_unique,
    load_folder,
    parse_runbook,
)

log = logging.getLogger(__name__)

OBJECT_PREFIX = "runbooks/"


class RunbookSource(Protocol):
    def all(self) -> list[Runbook]:
        """Every readable runbook; a malformed file is logged and skipped."""

    def get(self, runbook_id: str, *, path: str | None = None) -> Runbook | None:
        """One runbook by id; `path` (from the index catalog) saves reading the others."""

    def listed(self) -> list[Runbook]:
        """Every parsed runbook, its PromQL not yet checked: for matching on the front matter
        only; what is used is fetched with `get` (or `all`)."""


class _Cached:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._at = -1.0
        self._items: dict[str, Runbook] = {}
        self._sound: dict[str, bool] = {}  # content hash -> its PromQL parses
        self._promql: dict[str, list[str]] = {}  # content hash -> its PromQL's problems, known

    def listed(self) -> list[Runbook]:
        with self._lock:
            if self._at < 0 or time.monotonic() - self._at > self.ttl:
                self._items = {rb.id: rb for rb in self._load()}
                self._at = time.monotonic()
            return list(self._items.values())

    def all(self) -> list[Runbook]:
        return [rb for rb in self.listed() if self._checked(rb)]

    def get(self, runbook_id: str, *, path: str | None = None) -> Runbook | None:
        if path:
            rb = self._load_one(path)
            if rb is not None and rb.id == runbook_id and self._checked(rb):
                return rb
        return next((rb for rb in self.listed() if rb.id == runbook_id and self._checked(rb)),
                    None)

    def _checked(self, rb: Runbook) -> bool:
        """Whether `rb`'s PromQL parses (logged once per content when it does not)."""
        with self._lock:
            sound = self._sound.get(rb.content_hash)
            if sound is None:
                try:
                    check_promql(rb, known=self._promql)
                    sound = True
                except RunbookError as e:
                    log.warning("unreadable runbook: %s", e)
                    sound = False
                self._sound[rb.content_hash] = sound
            return sound

    def _load(self) -> list[Runbook]:
        raise NotImplementedError

    def _load_one(self, path: str) -> Runbook | None:
        raise NotImplementedError


class FolderSource(_Cached):
    """Runbooks in a local folder (the packaged `runbooks/` in the embedded default)."""

    def __init__(self, folder: Path, *, ttl: float = 60.0) -> None:
        super().__init__(ttl)
        self.folder = Path(folder)

    def _load(self) -> list[Runbook]:
        if not self.folder.is_dir():
            # A missing mount is the deployment's fault, not the alert's: retry, then dead-letter.
            raise TransientError(f"runbook folder {self.folder} is missing")
        table = self._table()
        return load_folder(self.folder, strict=False, promql=False, known=table.front_matter)

    def _load_one(self, path: str) -> Runbook | None:
        file = (self.folder / path).resolve()
        if self.folder.resolve() not in file.parents or not file.is_file():
            return None
        try:
            return parse_runbook(file.read_bytes(), path=path, promql=False,
                                 known=self._table().front_matter)
        except RunbookError as e:
            log.warning("unreadable runbook: %s", e)
            return None

    def _table(self) -> front_matter.Table:
        table = front_matter.read(self.folder)
        self._promql = table.promql
        return table


class ObjectSource(_Cached):
    """Runbooks mirrored into the object store by the index command (keys `runbooks/<path>`)."""

    def __init__(self, objects: ObjectStore, *, ttl: float = 60.0) -> None:
        super().__init__(ttl)
        self.objects = objects

    def _load(self) -> list[Runbook]:
        found: dict[str, Runbook] = {}
        for key in self.objects.list(OBJECT_PREFIX):
            if key.endswith(".md"):
                rb = self._load_one(key.removeprefix(OBJECT_PREFIX))
                duplicate = None if rb is None else file_unique(found, rb, promql_checked=False)
                if duplicate is not None:
                    log.warning("skipping runbook: %s", duplicate)
        return list(found.values())

    def _load_one(self, path: str) -> Runbook | None:
        data = self.objects.get(OBJECT_PREFIX + path)
        if data is None:
            return None
        try:
            return parse_runbook(data, path=path, promql=False)
        except RunbookError as e:
            log.warning("unreadable runbook: %s", e)
            return None
