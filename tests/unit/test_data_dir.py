"""The local stack's state, the local Qdrant store and the CLI's default `--state` are one
per-user data folder: the XDG one on Linux, so `replay`, `runbooks index` and `approve` find
what `up` left without flags."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from orchestrator.cli.local_state import console_access, state_dir
from orchestrator.resources import data_dir
from orchestrator.settings.knowledge import KnowledgeSettings


def test_the_xdg_data_home_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("KB_QDRANT_PATH", raising=False)
    assert data_dir() == tmp_path / "xdg" / "incident-orchestrator"
    assert KnowledgeSettings.from_env().local_store() == tmp_path / "xdg" / "incident-orchestrator" / "qdrant"
    monkeypatch.setenv("KB_QDRANT_PATH", str(tmp_path / "mine"))
    assert KnowledgeSettings.from_env().local_store() == tmp_path / "mine"
    assert state_dir(argparse.Namespace(state=None)) == data_dir()
    assert state_dir(argparse.Namespace(state=tmp_path / "s")) == tmp_path / "s"


def test_without_xdg_the_home_folder_is_used(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir() == tmp_path / ".local" / "share" / "incident-orchestrator"


def test_the_console_and_token_come_from_what_up_wrote(tmp_path: Path) -> None:
    (tmp_path / "up.json").write_text('{"console": "http://127.0.0.1:9999/"}')
    (tmp_path / "secrets.json").write_text('{"approver_token": "t-1"}')
    args = argparse.Namespace(state=tmp_path, console=None, token=None, token_file=None)
    assert console_access(args) == ("http://127.0.0.1:9999", "t-1")


def test_no_personal_token_exits_2_saying_where_to_get_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(state=tmp_path, console=None, token=None, token_file=None)
    with pytest.raises(SystemExit) as e:
        console_access(args)
    assert e.value.code == 2 and "--token-file" in capsys.readouterr().err
