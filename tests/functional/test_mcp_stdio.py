"""`orchestrator mcp` as a desktop assistant starts it: a real process on stdio, driven by the SDK's
stdio client, bridging to a running console's `/mcp`. Reads, runbook resources, a decision as
the `--as` person, and the refusals (no person, an expired request) all come from the console."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from orchestrator.console.session import Sessions
from orchestrator.events import PLAN_APPROVED, PlanApproved
from tests.fakes.sink import Sink
from tests.functional.console_support import (
    APPROVER,
    TOKEN,
    Story,
    console_app,
    console_env,
    deliver,
    serve,
)
from tests.functional.mcp_support import error_text, payload, run


@pytest.fixture
def console(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    console_env(monkeypatch, tmp_path / "audit", sink.url)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no stray `up` state
    app = console_app()
    with serve(app) as url:
        yield app.test_client(), url
    __import__("orchestrator.console.service").console.service.reset()


@asynccontextmanager
async def stdio_session(url: str, *extra: str) -> AsyncIterator[ClientSession]:
    env = {k: v for k, v in os.environ.items() if k != "CONSOLE_API_TOKEN"}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "orchestrator.cli", "mcp", "--console", url, "--token", TOKEN, *extra],
        env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


def awaiting(client: Any, story: Story, **kw: Any) -> None:
    for out in (story.alert_received(), story.context_enriched(), story.plan_proposed(),
                story.approval_requested(**kw)):
        assert deliver(client, out).status_code == 202


def test_reads_and_approves_over_stdio_as_the_named_person(console, sink) -> None:  # type: ignore[no-untyped-def]
    client, url = console
    story = Story()
    awaiting(client, story)

    async def go() -> tuple[Any, ...]:
        async with stdio_session(url, "--as", APPROVER) as s:
            tools = {t.name for t in (await s.list_tools()).tools}
            listed = payload(await s.call_tool("list_incidents", {"status": "awaiting approval"}))
            one = payload(await s.call_tool("get_incident", {"incident_key": story.key}))
            resources = (await s.list_resources()).resources
            text = await s.read_resource(next(str(r.uri) for r in resources
                                              if str(r.uri) == "runbook://k8s_crashloop"))
            done = payload(await s.call_tool("approve", {"plan_id": story.plan.plan_id}))
            return tools, listed, one, text, done

    tools, listed, one, text, done = run(go)
    assert {"list_incidents", "approve", "explain_refusal"} <= tools
    assert [i["incident_key"] for i in listed["incidents"]] == [story.key]
    assert one["plan"]["plan_id"] == story.plan.plan_id
    assert text.contents[0].text.startswith("# ")
    assert done["approver"] == APPROVER and done["decision"] == "approved"
    (got,) = sink.wait_for(1)
    assert got.headers["ce-type"] == PLAN_APPROVED
    assert PlanApproved.model_validate(got.json()).approver == APPROVER


def test_over_stdio_a_token_without_a_person_or_an_expired_request_is_refused(console, sink) -> None:  # type: ignore[no-untyped-def]
    client, url = console
    fresh, old = Story(), Story(fingerprint="0b1c2d3e4f5a6b7c")
    awaiting(client, fresh)
    awaiting(client, old, requested_at=datetime.now(UTC) - timedelta(minutes=20))

    async def go() -> tuple[Any, Any]:
        async with stdio_session(url) as anonymous:
            nobody = await anonymous.call_tool("approve", {"plan_id": fresh.plan.plan_id})
        async with stdio_session(url, "--as", APPROVER) as alice:
            late = await alice.call_tool("approve", {"plan_id": old.plan.plan_id})
        return nobody, late

    nobody, late = run(go)
    assert "names no person" in error_text(nobody)
    assert "expired" in error_text(late)
    assert sink.received == []


def test_a_wrong_token_ends_the_bridge_with_a_clear_message(console, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, url = console
    r = subprocess.run([sys.executable, "-m", "orchestrator.cli", "mcp", "--console", url,
                        "--token", "wrong"], input=b"", capture_output=True, timeout=60)
    assert r.returncode == 1
    assert b"refusing" in r.stderr and b"401" in r.stderr


def test_next_to_orchestrator_up_it_finds_the_console_and_token_in_the_state_folder(  # type: ignore[no-untyped-def]
        console, sink, tmp_path) -> None:
    """No flags but `--as`: the console URL from `up.json`, the API token from `secrets.json`,
    as `orchestrator approve` finds them; `--print-token` gives the personal token itself."""
    client, url = console
    story = Story()
    awaiting(client, story)
    state = tmp_path / "state"
    state.mkdir()
    (state / "up.json").write_text(json.dumps({"console": url}))
    (state / "secrets.json").write_text(json.dumps({"console_api_token": TOKEN}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")}
    printed = subprocess.run([sys.executable, "-m", "orchestrator.cli", "mcp", "--state",
                              str(state), "--as", APPROVER, "--print-token"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert Sessions(TOKEN, 3600).read(printed.stdout.strip(), now=time.time()) == APPROVER

    async def go() -> Any:
        params = StdioServerParameters(command=sys.executable, env=env, args=[
            "-m", "orchestrator.cli", "mcp", "--state", str(state), "--as", APPROVER])
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            return payload(await s.call_tool("reject", {"plan_id": story.plan.plan_id,
                                                        "comment": "not now"}))

    done = run(go)
    assert done["decision"] == "rejected" and done["approver"] == APPROVER
    (got,) = sink.wait_for(1)
    assert got.headers["ce-type"].endswith("plan.rejected")
