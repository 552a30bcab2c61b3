"""The console tells "dry-run: a human must act" apart from failures, and keeps the agent's
escalation reason out of the "Verification" section (which is about the router's watch)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.functional.console_support import (
    ALICE_TOKEN,
    Story,
    deliver,
)


@pytest.fixture
def client(console_for: Callable[..., Any]) -> Any:
    app = console_for()
    # A person logs in with their own token (the service token never does).
    assert app.post("/login", data={"token": ALICE_TOKEN, "next": "/"}).status_code == 303
    return app


def _escalated(client: Any, fingerprint: str, **escalation: str) -> Story:
    story = Story(fingerprint=fingerprint)
    for out in (story.alert_received(), story.context_enriched(), story.plan_proposed(),
                story.escalated(**escalation)):
        assert deliver(client, out).status_code == 202
    return story


def _badges(html: str) -> dict[str, str]:
    """badge label -> its CSS classes, for every badge on the page."""
    return {label: classes for classes, label in
            re.findall(r'<span class="badge ([^"]+)"[^>]*>([^<]+)</span>', html)}


def _section(html: str, css: str) -> str:
    m = re.search(rf'<section class="{css}".*?</section>', html, re.S)
    return m.group(0) if m else ""


def test_a_dry_run_and_a_failure_wear_different_badges(client: Any) -> None:
    dry = _escalated(client, "0000000000000d01", reason="dry-run", stage="executor",
                     detail="mode dry-run: would delete_pod shop/Pod/api-1")
    failed = _escalated(client, "0000000000000f01", reason="action-failed", stage="executor",
                        detail="eviction refused")
    listing = _badges(client.get("/").get_data(as_text=True))
    assert listing["dry-run: a human must act"] == "dry-run"
    assert listing["escalated"] == "escalated"
    page = client.get(f"/incidents/{dry.key}").get_data(as_text=True)
    assert _badges(page) == {"dry-run: a human must act": "dry-run"}
    assert "Dry run: a human must act." in _section(page, "escalations")
    other = client.get(f"/incidents/{failed.key}").get_data(as_text=True)
    assert _badges(other) == {"escalated": "escalated"}
    assert "Dry run" not in _section(other, "escalations")


def test_the_agents_escalation_is_not_shown_as_verification(client: Any) -> None:
    story = _escalated(client, "0000000000000a01")  # the agent: low confidence
    page = client.get(f"/incidents/{story.key}").get_data(as_text=True)
    assert "low-confidence" in _section(page, "escalations")
    verification = _section(page, "verification")
    assert "low-confidence" not in verification
    assert "Nothing to verify: no action was taken." in verification


def test_the_routers_failed_verification_stays_under_verification(client: Any) -> None:
    story = _escalated(client, "0000000000000b01", reason="verification-failed", stage="router",
                       detail="Deployment shop/checkout still unavailable after 180 s")
    page = client.get(f"/incidents/{story.key}").get_data(as_text=True)
    assert "verification-failed" in _section(page, "verification")
    assert _section(page, "escalations") == ""
