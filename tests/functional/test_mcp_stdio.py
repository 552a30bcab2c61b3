"""`orchestrator mcp` as a desktop assistant starts it: a real process on stdio, driven by the SDK's
stdio client, bridging to a running console's `/mcp`. Reads, runbook resources, a decision as
the person whose own token the bridge holds (`--token-file`, `--token`, or the one `up` wrote),
and the refusals (the service token, which names nobody; an expired request) all come from the
console. Nothing mints a token: the bridge only forwards the one it was given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from orchestrator.events import PLAN_APPROVED, PlanApproved
from tests.functional.console_support import (
    ALICE_TOKEN,
    APPROVER,
    MALLORY,
    MALLORY_TOKEN,
    TOKEN,
    Story,
    awaiting,
)
from tests.functional.mcp_support import error_text, payload, run


@pytest.fixture
def console(served_console: tuple[Any, str]) -> tuple[Any, str]:
    return served_console


def bridge_env() -> dict[str, str]:
    """The assistant's environment: none of the console's own settings (its tokens above all)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")}


@asynccontextmanager
async def stdio_session(errlog: TextIO, *args: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, env=bridge_env(),
                                   args=["-m", "orchestrator.cli", "mcp", *args])
    async with stdio_client(params, errlog=errlog) as (read, write), \
            ClientSession(read, write) as s:
        await s.initialize()
        yield s


def test_reads_and_approves_over_stdio_as_the_person_of_the_token_file(  # type: ignore[no-untyped-def]
        console, sink, tmp_path) -> None:
    client, url = console
    story = Story()
    awaiting(client, story, context=True)
    token_file = tmp_path / "alice.token"
    token_file.write_text(ALICE_TOKEN + "\n")
    token_file.chmod(0o600)

    async def go(errlog: TextIO) -> tuple[Any, ...]:
        async with stdio_session(errlog, "--console", url, "--token-file", str(token_file)) as s:
            tools = {t.name for t in (await s.list_tools()).tools}
            listed = payload(await s.call_tool("list_incidents", {"status": "awaiting approval"}))
            one = payload(await s.call_tool("get_incident", {"incident_key": story.key}))
            resources = (await s.list_resources()).resources
            text = await s.read_resource(next(str(r.uri) for r in resources
                                              if str(r.uri) == "runbook://k8s_crashloop"))
            done = payload(await s.call_tool("approve", {"plan_id": story.plan.plan_id}))
            return tools, listed, one, text, done

    with (tmp_path / "stderr").open("w+") as errlog:
        tools, listed, one, text, done = run(lambda: go(errlog))
        errlog.seek(0)
        said = errlog.read()
    assert f"connected as {APPROVER}; approve and reject act in that name" in said
    assert ALICE_TOKEN not in said
    assert {"list_incidents", "approve", "explain_refusal", "who_am_i"} <= tools
    assert [i["incident_key"] for i in listed["incidents"]] == [story.key]
    assert one["plan"]["plan_id"] == story.plan.plan_id
    assert text.contents[0].text.startswith("# ")
    assert done["approver"] == APPROVER and done["decision"] == "approved"
    (got,) = sink.wait_for(1)
    assert got.headers["ce-type"] == PLAN_APPROVED
    assert PlanApproved.model_validate(got.json()).approver == APPROVER


def test_over_stdio_only_an_allowed_person_decides_and_never_on_an_expired_request(  # type: ignore[no-untyped-def]
        console, sink, tmp_path) -> None:
    client, url = console
    fresh, old = Story(), Story(fingerprint="0b1c2d3e4f5a6b7c")
    awaiting(client, fresh, context=True)
    awaiting(client, old, context=True, requested_at=datetime.now(UTC) - timedelta(minutes=20))

    async def go(errlog: TextIO) -> tuple[Any, ...]:
        async with stdio_session(errlog, "--console", url, "--token", TOKEN) as service:
            pending = payload(await service.call_tool("list_pending_approvals", {}))
            approved = await service.call_tool("approve", {"plan_id": fresh.plan.plan_id})
            rejected = await service.call_tool("reject", {"plan_id": fresh.plan.plan_id})
        async with stdio_session(errlog, "--console", url, "--token", MALLORY_TOKEN) as other:
            stranger = await other.call_tool("approve", {"plan_id": fresh.plan.plan_id})
        async with stdio_session(errlog, "--console", url, "--token", ALICE_TOKEN) as alice:
            late = await alice.call_tool("approve", {"plan_id": old.plan.plan_id})
        return pending, approved, rejected, stranger, late

    with (tmp_path / "stderr").open("w+") as errlog:
        pending, approved, rejected, stranger, late = run(lambda: go(errlog))
        errlog.seek(0)
        said = errlog.read()
    assert "this token names nobody" in said and "read-only" in said
    assert f"connected as {MALLORY}, who is not on the console's approver allowlist" in said
    assert "not on the console's approver allowlist" in error_text(stranger)
    assert "Traceback" not in said  # each bridge ended cleanly when its client went away
    assert [a["plan_id"] for a in pending["approvals"]] == [fresh.plan.plan_id]
    assert "names no person" in error_text(approved)
    assert "names no person" in error_text(rejected)
    assert "expired" in error_text(late)
    assert sink.received == []


def test_a_wrong_token_ends_the_bridge_with_a_clear_message(console, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, url = console
    r = subprocess.run([sys.executable, "-m", "orchestrator.cli", "mcp", "--console", url,
                        "--token", "wrong-token-of-nobody"], input=b"", capture_output=True,
                       env=bridge_env(), timeout=60)
    assert r.returncode == 1
    assert b"refusing" in r.stderr and b"401" in r.stderr


def test_without_any_personal_token_it_says_where_to_get_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An empty state folder: no token to forward, and CONSOLE_API_TOKEN is never picked up."""
    env = {**bridge_env(), "CONSOLE_API_TOKEN": TOKEN}
    r = subprocess.run([sys.executable, "-m", "orchestrator.cli", "mcp", "--state",
                        str(tmp_path / "empty")], input=b"", capture_output=True, env=env,
                       timeout=60)
    assert r.returncode == 2
    assert b"no personal token" in r.stderr and b"--token-file" in r.stderr


def test_next_to_orchestrator_up_it_finds_the_console_and_token_in_the_state_folder(  # type: ignore[no-untyped-def]
        console, sink, tmp_path) -> None:
    """No flags but `--state`: the console URL from `up.json`, the local user's personal token
    from `secrets.json` (never its service token), as `orchestrator approve` finds them."""
    client, url = console
    story = Story()
    awaiting(client, story, context=True)
    state = tmp_path / "state"
    state.mkdir()
    (state / "up.json").write_text(json.dumps({"console": url}))
    (state / "secrets.json").write_text(json.dumps({"console_api_token": TOKEN,
                                                    "approver_token": ALICE_TOKEN}))

    async def go(errlog: TextIO) -> Any:
        async with stdio_session(errlog, "--state", str(state)) as s:
            return payload(await s.call_tool("reject", {"plan_id": story.plan.plan_id,
                                                        "comment": "not now"}))

    with (tmp_path / "stderr").open("w+") as errlog:
        done = run(lambda: go(errlog))
    assert done["decision"] == "rejected" and done["approver"] == APPROVER
    (got,) = sink.wait_for(1)
    assert got.headers["ce-type"].endswith("plan.rejected")
