"""The dependency direction of docs/architecture.md where import-linter cannot look: functions/.

import-linter (.importlinter, run by scripts/test) holds the package: no module of orchestrator/
outside orchestrator/adapters imports a vendor SDK. The five functions' entry points under
functions/ are not a package (each is loaded from its own folder by functions-framework), so
import-linter never sees them; this walks their files for the two rules that concern them: no
vendor SDK, and no function importing another.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ("kubernetes", "qdrant_client", "minio", "google.genai", "google")
FUNCTIONS = ("ingest", "router", "agent", "executor", "console")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _sources() -> list[Path]:
    return list((ROOT / "functions").rglob("*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_vendor_sdks_only_in_adapters(path: Path) -> None:
    bad = [n for n in _imports(path) if n.split(".")[0] in {v.split(".")[0] for v in VENDOR}]
    assert not bad, f"{path.relative_to(ROOT)} imports vendor SDKs {bad}: use orchestrator.adapters"


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_functions_do_not_import_each_other(fn: str) -> None:
    for path in (ROOT / "functions" / fn).rglob("*.py"):
        for name in _imports(path):
            assert name != "functions" and not name.startswith("functions."), name
            for other in FUNCTIONS:
                assert name != other, f"{path} imports function {other}"


def test_the_walk_sees_the_code() -> None:
    # Guards the two tests above against passing vacuously on an empty file list.
    assert {p.parent.name for p in (ROOT / "functions").glob("*/main.py")} == set(FUNCTIONS)
    assert {p.parent.name for p in _sources()} >= set(FUNCTIONS)
