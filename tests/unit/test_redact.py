"""Secret redaction: every canary shape is removed, idempotently, and ordinary text survives."""

from __future__ import annotations

import pytest

from orchestrator.redact import redact, redact_mapping, scan, secret_name, summarize
from tests.unit.secret_canaries import CANARIES


def test_the_canary_set_is_big_enough() -> None:
    assert len(CANARIES) >= 20
    assert len({name for name, _, _ in CANARIES}) == len(CANARIES)


@pytest.mark.parametrize(("name", "text", "secret"), CANARIES, ids=[c[0] for c in CANARIES])
def test_canary_is_redacted(name: str, text: str, secret: str) -> None:
    assert secret in text  # the canary itself is well-formed
    clean, count = redact(text)
    assert secret not in clean
    assert count >= 1
    assert "[REDACTED:" in clean


@pytest.mark.parametrize(("name", "text", "secret"), CANARIES, ids=[c[0] for c in CANARIES])
def test_redaction_is_idempotent(name: str, text: str, secret: str) -> None:
    once, _ = redact(text)
    twice, count = redact(once)
    assert twice == once
    assert count == 0


def test_all_canaries_in_one_log_are_redacted() -> None:
    log = "\n".join(f"2026-01-02T03:04:05Z INFO {text}" for _, text, _ in CANARIES)
    clean, kinds = scan(log)
    for _, _, secret in CANARIES:
        assert secret not in clean
    assert len(kinds) >= len(CANARIES)


def test_kinds_name_the_shape_and_never_the_secret() -> None:
    _, kinds = scan("Authorization: Bearer abcdefghijklmnop0123 and postgres://u:pw123456@db/x")
    assert kinds == ["url-password", "authorization"]
    assert summarize(["jwt", "jwt", "url-password"]) == "jwt×2, url-password"


@pytest.mark.parametrize("text", [
    "2026-01-02T03:04:05Z INFO GET /healthz 200 1.2ms",
    "Back-off restarting failed container app in pod checkout-7d9f8b6c5-x2k4q_shop",
    'Failed to pull image "registry.example.com/shop/frontend:2.31": not found',
    "0/3 nodes are available: 3 Insufficient cpu.",
    "max_tokens=1024 temperature=0.1",
    "password_min_length=12 token_ttl=300",
    "image sha256:3f2a9c1e7b6d5a4f3e2d1c0b9a8f7e6d5c4b3a2100112233445566778899aabb",
    "https://grafana.example.com/d/abc?orgId=1&from=now-1h",
    "basic authentication is disabled; bearer auth required",
    "KeyError: 'DATABASE_URL'",
])
def test_ordinary_text_survives(text: str) -> None:
    assert redact(text) == (text, 0)


def test_mapping_redacts_values_and_whole_values_under_secret_names() -> None:
    found: dict[str, list[str]] = {}
    out = redact_mapping({
        "app.kubernetes.io/name": "checkout",
        "example.com/api-token": "opaque-value-no-shape",
        "kubernetes.io/change-cause": "kubectl set env DB_PASSWORD=hunter2hunter2",
        "example.com/password-required": "true",
    }, lambda key, kinds: found.setdefault(key, kinds))
    assert out["app.kubernetes.io/name"] == "checkout"
    assert out["example.com/api-token"] == "[REDACTED:secret-value]"
    assert "hunter2hunter2" not in out["kubernetes.io/change-cause"]
    assert out["example.com/password-required"] == "true"  # a flag, not a secret
    assert set(found) == {"example.com/api-token", "kubernetes.io/change-cause"}


def test_secret_names() -> None:
    assert secret_name("DB_PASSWORD") and secret_name("x-api-key") and secret_name("clientSecret")
    assert not secret_name("DATABASE_HOST") and not secret_name("LOG_LEVEL")


def test_a_private_key_cut_off_by_a_log_tail_is_still_removed() -> None:
    tail = "Yjlp0p2N0ZUZXN0\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\nnext"
    head = "loading key\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEICanaryBody0123456789"
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in redact(tail)[0]
    assert redact(tail)[0].endswith("next")
    assert "MHcCAQEEICanaryBody0123456789" not in redact(head)[0]
