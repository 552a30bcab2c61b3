"""Hop signatures at the unit level: what a signature binds, and key rotation (a verifier
trusts every public key of a producer in its folder, so old and new overlap)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.envelope import Event
from orchestrator.local.keyring import ensure_keyring
from orchestrator.provenance import Unauthenticated, load_keyring, signer_from_pem

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _event(signer_dir: Path, fn: str = "agent", **changes: str) -> Event:
    signer = signer_from_pem(fn, (signer_dir / f"{fn}.key").read_text())
    attrs = {"type": "incident.plan.proposed", "source": f"/orchestrator/{fn}",
             "subject": "k", "id": "e1", "time": NOW.isoformat().replace("+00:00", "Z"),
             "incidentkey": "k", "partitionkey": "shop/Deployment/web"}
    ext = {k: v for k, v in attrs.items() if k in ("incidentkey", "partitionkey")}
    ext.update(signer.seal(attrs, b'{"a":1}'))
    base = {"type": attrs["type"], "source": attrs["source"], "subject": "k", "id": "e1",
            "time": attrs["time"]}
    fields = {**base, **{k: v for k, v in changes.items() if k in base}}
    ext.update({k: v for k, v in changes.items() if k not in base})
    return Event(data={"a": 1}, extensions=ext, raw=b'{"a":1}', **fields)  # type: ignore[arg-type]


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    ensure_keyring(tmp_path / "keys")
    return tmp_path / "keys"


def _ring(folder: Path):  # type: ignore[no-untyped-def]
    return load_keyring(folder, max_age=timedelta(minutes=15), skew=timedelta(minutes=1))


@pytest.mark.parametrize("change", [
    {"id": "e2"}, {"subject": "other"}, {"time": "2026-12-07T08:00:01Z"},
    {"incidentkey": "other"}, {"partitionkey": "shop/Deployment/db"}])
def test_the_signature_binds_every_routing_attribute(keys: Path, change: dict) -> None:
    ring = _ring(keys / "public")
    assert ring.check(_event(keys), now=NOW) == "agent"
    with pytest.raises(Unauthenticated, match="does not verify"):
        ring.check(_event(keys, **change), now=NOW)


def test_rotation_trusts_old_and_next_key_side_by_side(keys: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(keys, old)
    (keys / "agent.key").unlink()
    ensure_keyring(keys)  # the agent's new pair
    public = keys / "public"
    (public / "agent.next.pem").write_text((public / "agent.pem").read_text())
    (public / "agent.pem").write_text((old / "public" / "agent.pem").read_text())
    ring = _ring(public)
    assert ring.check(_event(old), now=NOW) == "agent"  # still signing with the old key
    assert ring.check(_event(keys), now=NOW) == "agent"  # already signing with the new one
    (public / "agent.pem").unlink()  # the old certificate dropped
    with pytest.raises(Unauthenticated, match="unknown signing key"):
        _ring(public).check(_event(old), now=NOW)


def test_a_key_filed_under_another_function_signs_nothing_for_it(keys: Path) -> None:
    """The agent's key, filed as the router's, still only ever speaks for the router."""
    public = keys / "public"
    (public / "router.pem").write_text((public / "agent.pem").read_text())
    (public / "agent.pem").unlink()
    with pytest.raises(Unauthenticated):
        _ring(public).check(_event(keys), now=NOW)


def test_a_signer_signs_only_its_own_source(keys: Path) -> None:
    signer = signer_from_pem("agent", (keys / "agent.key").read_text())
    with pytest.raises(ValueError, match="only its own"):
        signer.seal({"type": "t", "source": "/orchestrator/executor"}, b"{}")
