"""`orchestrator trust report` and the console's trust page over a recorded history with known
numbers (tests/functional/trust_history_support.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.adapters.object_store import LocalDirStore
from orchestrator.cli import main
from orchestrator.console import trust
from orchestrator.console.thresholds import TrustThresholds
from tests.fakes.sink import Sink
from tests.functional import trust_history_support as trust_history
from tests.functional.console_support import AUTH, console_app, console_env

LOW = TrustThresholds(trust_min_incidents=3, trust_min_agreement=0.9, trust_max_refusals=0,
                      trust_min_cleared=0.8)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    trust_history.record(LocalDirStore(tmp_path / "state" / "audit"))
    return tmp_path / "state"


def by_workload(scopes: list[trust.Scope]) -> dict[str, trust.Scope]:
    return {s.workload: s for s in scopes}


def test_the_report_counts_the_recorded_history(state: Path) -> None:
    store = LocalDirStore(state / "audit")
    since = trust.parse_since("30d", now=datetime.now(UTC))
    found = by_workload(trust.report(store, since=since, thresholds=LOW))
    assert sorted(found) == ["(no target)", "payments/Deployment/checkout",
                             "payments/Deployment/ledger", "shop/Deployment/cart"]
    cart = found["shop/Deployment/cart"]
    assert (cart.incidents, cart.level, dict(cart.would_do), dict(cart.did)) == (
        4, "dry-run", {"rollout_restart": 4}, {})  # the test alert and the old one left out
    assert cart.recommendation == "ready for approve"
    checkout = found["payments/Deployment/checkout"]
    assert (checkout.incidents, checkout.level, dict(checkout.would_do),
            dict(checkout.did)) == (3, "approve", {"rollback": 3}, {"rollback": 2})
    assert (checkout.approved, checkout.rejected, checkout.cleared, checkout.not_cleared) == (
        2, 1, 1, 1)
    assert dict(checkout.escalations) == {"approval-rejected": 1}
    assert checkout.recommendation == ("stay at approve: humans approved 2 of 3 plans "
                                       "(below 90%)")
    ledger = found["payments/Deployment/ledger"]
    assert (ledger.incidents, ledger.level, dict(ledger.refusals)) == (
        3, "observe", {"policy": 2, "budget": 1})
    assert ledger.recommendation == "stay at observe: 3 refusal(s) (policy 2, budget 1), at most 0"
    lost = found["(no target)"]
    assert (lost.incidents, dict(lost.escalations), lost.recommendation) == (
        1, {"no-runbook": 1}, "stay at observe: 1 incident(s), 3 needed")
    spaces = {s.namespace: s for s in trust.namespaces(list(found.values()), LOW)}
    assert (spaces["payments"].incidents, spaces["payments"].level) == (7, "observe")
    assert (spaces["shop"].incidents, spaces["shop"].recommendation) == (4, "ready for approve")
    # With the history since 60 days, the old shop incident counts too.
    older = by_workload(trust.report(store, since=trust.parse_since("60d", now=datetime.now(
        UTC)), thresholds=LOW))
    assert older["shop/Deployment/cart"].incidents == 5


def test_thresholds_decide_the_recommendation(state: Path) -> None:
    store = LocalDirStore(state / "audit")
    lenient = TrustThresholds(trust_min_incidents=3, trust_min_agreement=0.6,
                              trust_max_refusals=0, trust_min_cleared=0.5)
    found = by_workload(trust.report(store, since=None, thresholds=lenient))
    assert found["payments/Deployment/checkout"].recommendation == "ready for auto"
    cleared = lenient.model_copy(update={"trust_min_cleared": 0.6})
    assert by_workload(trust.report(store, since=None, thresholds=cleared))[
        "payments/Deployment/checkout"].recommendation == (
        "stay at approve: the alert cleared after 1 of 2 actions (below 60%)")
    strict = TrustThresholds(trust_min_incidents=6)
    assert by_workload(trust.report(store, since=None, thresholds=strict))[
        "shop/Deployment/cart"].recommendation == "stay at dry-run: 5 incident(s), 6 needed"
    assert found["payments/Deployment/ledger"].recommendation.startswith(
        "stay at observe: 3 refusal(s)")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_prints_the_report_and_its_json(state: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"CONSOLE_TRUST_MIN_INCIDENTS": "3", "CONSOLE_TRUST_MAX_REFUSALS": "0"
                        }.items():
        monkeypatch.setenv(name, value)
    code, out, _ = run(capsys, "trust", "report", "--state", str(state), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["thresholds"]["min_incidents"] == 3
    workloads = {w["workload"]: w for w in doc["workloads"]}
    assert workloads["payments/Deployment/checkout"]["human"] == {"approved": 2, "rejected": 1}
    assert workloads["payments/Deployment/checkout"]["verdicts"] == {
        "cleared": 1, "healthy": 0, "not_cleared": 1}
    assert workloads["shop/Deployment/cart"]["recommendation"] == "ready for approve"
    code, out, _ = run(capsys, "trust", "report", "--state", str(state))
    assert code == 0
    line = next(x for x in out.splitlines() if "shop/Deployment/cart" in x)
    assert "rollout_restart 4" in line and line.rstrip().endswith("ready for approve")
    assert "Promotion is a change to the executor's policy" in out
    assert run(capsys, "trust", "report", "--state", str(state), "--since", "1h")[1].startswith(
        "no incidents since")


@pytest.fixture
def client(state: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    console_env(monkeypatch, state / "audit", sink.url, CONSOLE_TRUST_MIN_INCIDENTS="3")
    yield console_app().test_client()
    __import__("orchestrator.console.service").console.service.instance.reset()


def test_the_console_shows_the_trust_page(client: Any) -> None:
    r = client.get("/trust", headers=AUTH)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "shop/Deployment/cart" in html and "ready for approve" in html
    assert "2 of 3" in html  # checkout: approved by a human
    assert "2 policy, 1 budget" in html
    assert client.get("/trust?since=60d", headers=AUTH).status_code == 200
    bad = client.get("/trust?since=yesterday", headers=AUTH)
    assert bad.status_code == 400 and b"since must be" in bad.data
    assert client.get("/trust").status_code == 303  # a login first


def test_an_incident_without_a_plan_counts_for_the_top_owner_not_the_pod(tmp_path: Path) -> None:
    from orchestrator.console import audit
    from orchestrator.envelope import decode
    from tests.functional.console_support import Story, wire

    store = LocalDirStore(tmp_path / "audit")
    story = Story()
    for out in (story.alert_received(), story.context_enriched(),
                story.escalated("no-applicable-action", "agent", "none applies")):
        audit.write(store, decode(*wire(out)), now=datetime.now(UTC))
    (scope,) = trust.report(store, since=None, thresholds=LOW)
    assert (scope.workload, dict(scope.escalations)) == (
        "payments/Deployment/checkout", {"no-applicable-action": 1})
