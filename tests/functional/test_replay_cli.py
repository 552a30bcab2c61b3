"""`orchestrator replay` as a user runs it: another working directory, packaged eventing/ and
runbooks/, state in a folder of its own, the whole loop through real processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _replay(tmp_path: Path, *files: str, extra: tuple[str, ...] = ()) -> dict:  # type: ignore[type-arg]
    tmp_path.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "orchestrator.cli", "replay", *files, "--json",
           "--state", str(tmp_path / "state"), "--timeout", "120", *extra]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_replay_prints_every_incident_with_its_full_timeline(tmp_path: Path) -> None:
    crash = str(ROOT / "tests/events/alertmanager_crashloop.json")
    resolved = str(ROOT / "tests/events/alertmanager_crashloop_resolved.json")
    out = _replay(tmp_path, crash, resolved)
    assert out["quiet"] is True
    (incident,) = out["incidents"]
    assert incident["key"] == "prod-eu-west-1-9a3cf2d1b7e04c55-20261120T091403Z"
    types = [e["type"] for e in incident["events"]]
    assert types[0] == "incident.alert.received"
    assert "incident.context.enriched" in types
    assert "incident.resolved" in types
    assert incident["outcome"] == "resolved (alert-resolved)"
    first = incident["events"][0]
    assert first["source"] == "/orchestrator/ingest"
    assert first["data"]["alert"]["labels"]["pod"] == "checkout-7d9f8b6c5-x2k4q"


def test_replay_in_redeliver_and_shuffle_mode_reaches_the_same_outcomes(tmp_path: Path) -> None:
    files = [str(p) for p in sorted((ROOT / "examples/alerts").glob("*.json"))]
    normal = _replay(tmp_path / "a", *files)
    chaos = _replay(tmp_path / "b", *files, extra=("--chaos",))
    assert {i["key"]: i["outcome"] for i in normal["incidents"]} == \
        {i["key"]: i["outcome"] for i in chaos["incidents"]}
    # Every event was delivered twice, so replies came twice: same ids, more copies.
    n_ids = {e["id"] for i in normal["incidents"] for e in i["events"]}
    c_ids = {e["id"] for i in chaos["incidents"] for e in i["events"]}
    assert n_ids == c_ids
    assert sum(len(i["events"]) for i in chaos["incidents"]) > \
        sum(len(i["events"]) for i in normal["incidents"])
