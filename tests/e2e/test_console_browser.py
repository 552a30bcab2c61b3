"""The console in a real browser: Debian's headless Chromium driven by Playwright.

Log in, open the list, open the incident, click Approve, and watch the executor's result appear
(the test plays the broker and the executor: it hands the console the decision it POSTed and the
`action.completed` that would follow). A screenshot of the incident page is saved to artifacts/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.envelope import Outgoing
from orchestrator.events import PLAN_APPROVED, PlanApproved
from tests.fakes.sink import Sink
from tests.functional.console_support import (
    ALICE_TOKEN,
    APPROVER,
    Story,
    console_app,
    console_env,
    deliver,
    serve,
)

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"



@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is absent: scripts/setup --test installs Debian's chromium")
    # Only a missing browser skips: a missing driver package is a broken test setup.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def test_approve_in_the_browser_and_see_the_result(tmp_path: Path, sink: Sink, browser: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    console_env(monkeypatch, tmp_path / "audit", sink.url, CONSOLE_REFRESH_SECONDS="60")
    app = console_app()
    client = app.test_client()
    story = Story(annotations={"summary": "checkout is crash-looping <script>window.pwned=1"
                                          "</script>"})
    for out in (story.alert_received(), story.context_enriched(), story.plan_proposed(),
                story.approval_requested()):
        assert deliver(client, out).status_code == 202
    errors: list[str] = []
    try:
        with serve(app) as url:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/", wait_until="load")
            assert page.url.startswith(url + "/login")
            page.fill("input[name=token]", ALICE_TOKEN)
            page.click("button[type=submit]")
            page.wait_for_selector("table.incidents")
            row = page.locator("table.incidents tbody tr")
            assert row.count() == 1 and "awaiting approval" in row.inner_text()
            page.click(f"a[href='/incidents/{story.key}']")
            page.wait_for_selector("#approve")
            assert page.evaluate("window.pwned") is None
            assert "<script>window.pwned=1</script>" in page.inner_text("section.alert")
            assert page.locator("svg.ooda circle").count() == 4
            page.click("#approve")
            page.wait_for_selector("#done")
            (got,) = sink.wait_for(1, timeout=10)
            assert got.headers["ce-type"] == PLAN_APPROVED
            # The broker hands the decision back, and the executor reports what it did.
            decision = PlanApproved.model_validate(got.json())
            deliver(client, Outgoing(type=PLAN_APPROVED, id=got.headers["ce-id"],
                                     function="console", incident_key=story.key, data=decision,
                                     partition_key=got.headers.get("ce-partitionkey")))
            deliver(client, story.action_completed(approver=APPROVER))
            # No reload by the test: the page's own script notices the log changed.
            page.wait_for_selector("#result .result-completed", timeout=15_000)
            result = page.inner_text("#result")
            assert "rolled back to revision 6" in result and APPROVER in result
            assert APPROVER in page.inner_text("section.approval-history")
            assert page.inner_text("#status") == "acting"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "console-incident.png"), full_page=True)
            page.close()
    finally:
        __import__("orchestrator.console.service").console.service.instance.reset()
    assert not errors, errors
    assert (ARTIFACTS / "console-incident.png").stat().st_size > 10_000
