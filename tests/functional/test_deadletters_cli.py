"""`orchestrator deadletters`: list what the local broker gave up on, and queue one again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from orchestrator.local.broker import Broker
from orchestrator.local.stack import FUNCTIONS
from tests.fakes.serving import wait_until
from tests.fakes.sink import running_sink


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args],
                          capture_output=True, text=True, timeout=60)


def test_list_and_redeliver(tmp_path: Path) -> None:
    db = tmp_path / "broker.sqlite3"
    with running_sink() as sink:
        sink.respond_with(*([400] * 10))  # every function refuses: no retry, straight to DLQ
        urls = {name: sink.url.rstrip("/") for name in FUNCTIONS}
        with Broker(db_path=db, subscribers=urls, time_scale=0.001) as broker:
            broker.publish({"ce-specversion": "1.0", "ce-type": "incident.alert.received",
                            "ce-source": "/test", "ce-id": "e1", "ce-incidentkey": "k1",
                            "content-type": "application/json"}, b'{"x": 1}')
            wait_until(lambda: broker.list_deadletters() and broker.wait_idle(0.2), timeout=20,
                       what=lambda: f"a dead letter and an idle broker: {broker.stats()}")

    listed = _cli("deadletters", "--state", str(tmp_path), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    routed = [r for r in rows if r["trigger"] == "router-alerts"]
    assert routed and routed[0]["code"] == 400
    assert routed[0]["event"]["attributes"]["id"] == "e1"

    again = _cli("deadletters", "--state", str(tmp_path), "--redeliver", str(routed[0]["id"]))
    assert again.returncode == 0, again.stderr
    assert "queued again" in again.stdout
    unstarted = Broker(db_path=db, subscribers={n: "http://unused.invalid" for n in FUNCTIONS})
    try:
        assert unstarted.stats()["pending"] == 1
    finally:
        unstarted.close()
