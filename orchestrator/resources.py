"""Where the packaged `eventing/`, `runbooks/` and `functions/` folders are, from anywhere, and
where the local stack keeps its state.

The repository's top-level folders are the source of truth; the wheel ships them as the
`orchestrator.bundled.*` packages. A source checkout without an install falls back to the
repository folders directly.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def _folder(name: str) -> Path:
    # These are namespace packages (no __init__.py): their search locations name the folder.
    try:
        spec = importlib.util.find_spec(f"orchestrator.bundled.{name}")
    except ModuleNotFoundError:
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = Path(location)
        if found.is_dir() and any(found.iterdir()):
            return found
    return _REPO / name


def eventing_dir() -> Path:
    """The folder holding the Broker and Trigger YAML the local broker reads."""
    return _folder("eventing")


def functions_dir() -> Path:
    """The folder holding each function's `main.py` (what functions-framework serves)."""
    return _folder("functions")


def runbooks_dir() -> Path:
    """The folder holding the packaged runbooks (markdown with front matter)."""
    return _folder("runbooks")


def data_dir() -> Path:
    """The per-user data folder (`$XDG_DATA_HOME/incident-orchestrator` on Linux, the platform's
    own elsewhere): where `orchestrator up` keeps its state and the local Qdrant store lives, so
    `replay`, `runbooks index` and `search` work from any directory without flags."""
    from platformdirs import user_data_dir  # only the local tools ask: not on a cold start

    return Path(user_data_dir("incident-orchestrator", appauthor=False))
