"""`orchestrator up --prometheus URL --alertmanager URL` reaches the router's settings."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from orchestrator.cli import local
from orchestrator.local.stack import Stack, StackOptions
from orchestrator.settings.router import RouterSettings


def _router_settings(tmp_path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch
                     ) -> RouterSettings:
    parser = argparse.ArgumentParser()
    local.register(parser.add_subparsers())
    args = parser.parse_args(["up", *argv])
    stack = Stack(StackOptions(state=tmp_path, env={"router": local.router_env(
        args.prometheus, args.alertmanager)}))
    for k, v in stack.env_for("router").items():
        if k.startswith("ROUTER_"):
            monkeypatch.setenv(k, v)
    return RouterSettings()


def test_up_passes_prometheus_and_alertmanager_to_the_router(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _router_settings(tmp_path, ["--prometheus", "http://prom:9090",
                                    "--alertmanager", "http://am:9093"], monkeypatch)
    assert (s.prometheus_url, s.alertmanager_url) == ("http://prom:9090", "http://am:9093")


def test_without_the_flags_the_router_has_no_prometheus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTER_PROMETHEUS_URL", raising=False)
    s = _router_settings(tmp_path, [], monkeypatch)
    assert s.prometheus_url is None and s.alertmanager_url is None
