"""`orchestrator incidents` over the log a console wrote, and `orchestrator approve|reject`
against a console served on a loopback port."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main
from orchestrator.events import PLAN_APPROVED
from tests.fakes.sink import Sink
from tests.functional.console_support import (
    ALICE_TOKEN,
    APPROVER,
    MALLORY_TOKEN,
    TOKEN,
    Story,
    console_app,
    deliver,
    serve,
)


@pytest.fixture
def state(tmp_path: Path, console_for: Callable[..., Any]) -> Path:
    console_for()
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_incidents_list_and_show(state: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client = console_app().test_client()
    story, other = Story(), Story(fingerprint="f" * 16)
    for out in (story.alert_received(), story.plan_proposed(), story.escalated(),
                other.alert_received()):
        deliver(client, out)
    monkeypatch.delenv("CONSOLE_AUDIT_DIR")
    code, out, _ = run(capsys, "incidents", "list", "--state", str(state))
    assert code == 0 and story.key in out and "escalated" in out and other.key in out
    code, out, _ = run(capsys, "incidents", "list", "--state", str(state), "--json",
                       "--status", "open")
    assert [i["incident_key"] for i in json.loads(out)] == [other.key]
    code, out, _ = run(capsys, "incidents", "show", story.key, "--state", str(state))
    assert code == 0
    lines = out.splitlines()
    assert "status: escalated (low-confidence)" in lines[1]
    assert [line.split()[1] for line in lines[2:]] == [
        "incident.alert.received", "incident.plan.proposed", "incident.escalated"]
    code, out, _ = run(capsys, "incidents", "show", story.key, "--state", str(state), "--json")
    assert json.loads(out)["summary"]["status"] == "escalated"
    assert run(capsys, "incidents", "show", "nope", "--state", str(state))[0] == 1
    # The index is a cache: gone, and rebuilt from the log.
    for f in (state / "audit" / "index").iterdir():
        f.unlink()
    code, out, err = run(capsys, "incidents", "list", "--state", str(state), "--rebuild")
    assert "index rebuilt: 2 incidents" in err and story.key in out


def test_approve_and_reject_through_the_http_api(state: Path, sink: Sink,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    app: Any = console_app()
    story = Story()
    client = app.test_client()
    for out in (story.alert_received(), story.plan_proposed(), story.approval_requested()):
        deliver(client, out)
    token_file = state / "alice.token"
    token_file.write_text(ALICE_TOKEN + "\n")
    with serve(app) as url:
        plan = story.plan.plan_id
        code, _, err = run(capsys, "approve", plan, "--console", url, "--token", MALLORY_TOKEN)
        assert code == 1 and "HTTP 403" in err and "allowlist" in err
        code, _, err = run(capsys, "approve", plan, "--console", url, "--token", TOKEN)
        assert code == 1 and "HTTP 403" in err and "service token" in err
        code, _, err = run(capsys, "approve", plan, "--token", "wrong", "--console", url)
        assert code == 1 and "HTTP 401" in err
        with pytest.raises(SystemExit):  # there is no --as: the token says who approves
            run(capsys, "approve", plan, "--as", APPROVER, "--console", url)
        capsys.readouterr()
        code, out, _ = run(capsys, "approve", plan, "--console", url, "--token-file",
                           str(token_file))
        assert code == 0 and f"plan {plan} approved by {APPROVER}" in out
        code, _, err = run(capsys, "reject", plan, "--console", url, "--token", ALICE_TOKEN)
        assert code == 1 and "already approved" in err
    (got,) = sink.wait_for(1)
    assert got.headers["ce-type"] == PLAN_APPROVED
