"""`orchestrator sweep` against the real console app served on a loopback port: the chart's
CronJob command as rendered (token from a mounted file), the other token sources, and every way
it must fail with exit 1 (wrong token, unreadable token file, console or broker down)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main
from orchestrator.events import ESCALATED, Escalated
from tests.fakes.serving import free_port
from tests.fakes.sink import Sink
from tests.functional.console_support import TOKEN, Story, console_app, console_env, deliver, serve
from tests.functional.helm_support import render

PLAN_ID = Story().plan.plan_id  # the console fixture's story


@pytest.fixture
def console(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A console holding one approval request nobody answered in time, served on loopback."""
    console_env(monkeypatch, tmp_path / "audit", sink.url)
    app: Any = console_app()
    client = app.test_client()
    asked = datetime.now(UTC) - timedelta(minutes=16)
    story = Story()
    for out in (story.alert_received(), story.plan_proposed(),
                story.approval_requested(requested_at=asked)):
        assert deliver(client, out, asked).status_code == 202
    # The console read its settings on that first request: from here on the environment is the
    # CLI's alone.
    monkeypatch.delenv("CONSOLE_API_TOKEN")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "no-state"))
    with serve(app) as url:
        yield url
    __import__("orchestrator.console.service").console.service.instance.reset()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def token_file(tmp_path: Path, value: str = TOKEN) -> Path:
    path = tmp_path / "secret" / "api-token"
    path.parent.mkdir(exist_ok=True)
    path.write_text(value + "\n")  # as a Secret created with a trailing newline holds it
    return path


def assert_expired_once(sink: Sink, report: dict[str, Any]) -> None:
    assert report["expired"] == [PLAN_ID] and report["stale"] == []
    assert report["checked"] == 1
    (sent,) = sink.wait_for(1)
    assert sent.headers["ce-type"] == ESCALATED
    assert Escalated.model_validate(sent.json()).reason == "approval-expired"


def test_the_charts_cronjob_command_sweeps_the_real_console(
    console: str, sink: Sink, tmp_path: Path,
) -> None:
    """The command exactly as the CronJob renders it, but for the URL and the mount path."""
    (cj,) = render("default").of_kind("CronJob")
    (container,) = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    command = list(container["command"])
    command[command.index("--console") + 1] = console
    command[command.index("--token-file") + 1] = str(token_file(tmp_path))
    # The pod's environment: nothing of the console's, no state folder.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "no-state")
    done = subprocess.run([str(Path(sys.executable).parent / command[0]), *command[1:]],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert_expired_once(sink, json.loads(done.stdout))
    assert TOKEN not in done.stdout + done.stderr


@pytest.mark.parametrize("source", ["--token", "CONSOLE_API_TOKEN", "CONSOLE_API_TOKEN_FILE",
                                    "state folder"])
def test_the_token_comes_from_a_flag_the_console_settings_or_the_state_folder(
    source: str, console: str, sink: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["sweep", "--console", console]
    if source == "--token":
        argv += ["--token", TOKEN]
    elif source == "CONSOLE_API_TOKEN":
        monkeypatch.setenv("CONSOLE_API_TOKEN", TOKEN)
    elif source == "CONSOLE_API_TOKEN_FILE":
        monkeypatch.setenv("CONSOLE_API_TOKEN_FILE", str(token_file(tmp_path)))
    else:  # what `orchestrator up` leaves behind: its URLs and its generated secrets
        state = tmp_path / "state"
        state.mkdir()
        (state / "secrets.json").write_text(json.dumps({"console_api_token": TOKEN}))
        (state / "up.json").write_text(json.dumps({"console": console}))
        argv = ["sweep", "--state", str(state)]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert_expired_once(sink, json.loads(out))


def test_a_wrong_token_exits_1_and_sweeps_nothing(
    console: str, sink: Sink, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = token_file(tmp_path, "not-the-token")
    code, out, err = run(capsys, "sweep", "--console", console, "--token-file", str(path))
    assert (code, out) == (1, "")
    assert "HTTP 401" in err and "not-the-token" not in err
    # The console answers after it swept: nothing was published before the 401.
    assert sink.received == []
    # The right token still finds the approval to expire: the refused call changed nothing.
    code, out, _ = run(capsys, "sweep", "--console", console, "--token", TOKEN)
    assert code == 0
    assert_expired_once(sink, json.loads(out))


def test_an_unreadable_token_file_or_no_token_exits_1_before_calling(
    console: str, sink: Sink, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "sweep", "--console", console,
                         "--token-file", str(tmp_path / "missing"))
    assert (code, out) == (1, "") and "cannot read secret file" in err
    code, out, err = run(capsys, "sweep", "--console", console)
    assert (code, out) == (1, "") and "no console token" in err
    assert sink.received == []


def test_a_broker_outage_is_a_failed_run_and_the_retry_sweeps(
    console: str, sink: Sink, capsys: pytest.CaptureFixture[str],
) -> None:
    """The Job's next attempt (backoffLimit) or the next schedule picks up what failed."""
    sink.respond_with(503)
    code, out, err = run(capsys, "sweep", "--console", console, "--token", TOKEN)
    assert (code, out) == (1, "") and "HTTP 502" in err
    code, out, _ = run(capsys, "sweep", "--console", console, "--token", TOKEN)
    assert code == 0
    assert_expired_once(sink, json.loads(out))


def test_an_unreachable_console_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # a port nothing listens on
    code, out, err = run(capsys, "sweep", "--console", f"http://127.0.0.1:{port}",
                         "--token", TOKEN, "--timeout", "5")
    assert (code, out) == (1, "") and "console unreachable" in err
