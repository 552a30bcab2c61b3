"""The tamper-evident log through the console and the CLI: deliveries chain their records, the
sweep seals finished days and expires old ones, `orchestrator audit verify` reports the first
break with exit 1, and the pages show a chain-broken banner."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import orchestrator.console.service as service
from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.cli import main
from orchestrator.console import audit, chain, seal
from tests.functional.console_support import AUTH, Story, deliver


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def client(console_for: Callable[..., Any], state: Path) -> Any:
    return console_for(state / "audit", CONSOLE_AUDIT_RETENTION_DAYS="2")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def story_through(client: Any) -> Story:
    story = Story()
    for out in (story.alert_received(), story.context_enriched(), story.plan_proposed(),
                story.escalated("dry-run", "executor", "dry-run mode")):
        assert deliver(client, out).status_code == 202
    return story


def sweep_at(client: Any, when: datetime) -> dict[str, Any]:
    service.instance().clock = lambda: when
    r = client.post("/sweep", headers=AUTH)
    assert r.status_code == 200, r.data
    found: dict[str, Any] = r.get_json()["audit"]
    return found


def test_the_sweep_seals_and_verify_passes_until_a_record_changes(
        client: Any, state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    story = story_through(client)
    store = LocalDirStore(state / "audit")
    assert len(chain.links(store, story.key)) == 4
    today = datetime.now(UTC)
    assert sweep_at(client, today)["sealed"] == []  # the day is not over
    done = sweep_at(client, today + timedelta(days=1, minutes=11))
    assert done["sealed"] == [chain.day_name(today)] and done["chain_ok"] is True
    code, out, err = run(capsys, "audit", "verify", "--state", str(state))
    assert code == 0 and "no console signing key" not in err
    assert out.startswith("audit log intact: 1 incident(s), 4 record(s), 4 link(s), 1 sealed")
    assert "Audit chain broken" not in client.get(f"/incidents/{story.key}",
                                                  headers=AUTH).get_data(as_text=True)

    key = audit.record_keys(store, story.key)[2]
    doc = json.loads(store.get(key) or b"")
    doc["data"]["plan"]["hypothesis"] = "nothing to see here"
    store.put(key, json.dumps(doc).encode())
    code, out, _ = run(capsys, "audit", "verify", "--state", str(state))
    assert code == 1
    assert f"first break: changed at {key}: the record no longer matches link 2" in out
    code, out, _ = run(capsys, "audit", "verify", "--state", str(state), "--json")
    assert code == 1 and json.loads(out)["first"]["where"] == key
    page = client.get(f"/incidents/{story.key}", headers=AUTH).get_data(as_text=True)
    assert "Audit chain broken" in page and key in page
    # The list page shows the sweep's verdict: clean until the next sweep sees the change.
    assert "Audit chain broken" not in client.get("/", headers=AUTH).get_data(as_text=True)
    assert sweep_at(client, today + timedelta(days=1, minutes=20))["chain_ok"] is False
    assert "Audit chain broken" in client.get("/", headers=AUTH).get_data(as_text=True)


def test_verify_without_the_key_says_signatures_were_not_checked(
        client: Any, state: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    story_through(client)
    sweep_at(client, datetime.now(UTC) + timedelta(days=1, minutes=11))
    monkeypatch.delenv("CONSOLE_PUBLIC_KEYS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(state.parent / "no-state"))
    code, out, err = run(capsys, "audit", "verify", "--state", str(state), "--since", "2d")
    assert code == 0 and "no console public key" in err and "1 sealed day(s)" in out


def test_the_sweep_expires_whole_days_past_retention(client: Any, state: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    story = story_through(client)
    store = LocalDirStore(state / "audit")
    today = datetime.now(UTC)
    assert sweep_at(client, today + timedelta(days=2))["expired_days"] == []  # 2 days kept
    done = sweep_at(client, today + timedelta(days=3))
    assert done["expired_days"] == [chain.day_name(today)] and done["deleted_incidents"] == 1
    assert audit.record_keys(store, story.key) == []
    record = json.loads(store.get(seal.retention_key(chain.day_name(today))) or b"")
    assert record["deleted"] == [story.key]
    assert run(capsys, "audit", "verify", "--state", str(state))[0] == 0
