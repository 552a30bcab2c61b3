"""Secret redaction: every canary shape is removed, idempotently, and ordinary text survives."""

from __future__ import annotations

import pytest

from orchestrator import redact as redaction
from orchestrator.redact import (
    redact,
    redact_labels,
    redact_mapping,
    scan,
    secret_name,
    summarize,
)
from tests.unit.secret_canaries_support import CANARIES


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
    "bypass_cache=1 compass=north passes=3 passthrough=true PGPASSFILE=/etc/pgpass",
    "retries=3 password_min_length=12 token_ttl_seconds=300 api_key_rotation_days=90",
    "mysql -h db -P3306 --database shop",
    "password: |",
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


@pytest.mark.parametrize(("text", "secret"), [
    ("DB_PASSWORD=1234", "1234"),
    ("pin_token: 004211", "004211"),
    ('{"api_key": "99"}', "99"),
    ("mysql --user=root --password=31337 shop", "31337"),
])
def test_a_short_number_under_a_name_ending_in_the_secret_word_is_a_secret(
        text: str, secret: str) -> None:
    clean, count = redact(text)
    assert secret not in clean.replace("REDACTED", "") and count == 1


def test_a_yaml_block_is_redacted_to_its_end_and_no_further() -> None:
    text = "spec:\n  password: |+\n    line-one-secret\n\n    line-two-secret\n  host: pg\nnext: 1"
    clean, kinds = scan(text)
    assert clean == "spec:\n  password: [REDACTED:secret-value]\n  host: pg\nnext: 1"
    assert kinds == ["secret-value"]


def test_mysql_takes_its_password_glued_to_dash_p_and_leaves_the_port() -> None:
    clean, _ = scan("mysql -h db -P3306 -u app -p'S3cr3t!' -D shop")
    assert clean == "mysql -h db -P3306 -u app -p'[REDACTED:secret-value]' -D shop"


def test_url_encoded_separators_and_the_next_parameter_survives() -> None:
    clean, _ = scan("/login?r=%2Fhome%3Faccess_key%3DAbc123Def456%26lang%3Den")
    assert clean == "/login?r=%2Fhome%3Faccess_key%3D[REDACTED:secret-value]%26lang%3Den"


def test_labels_keep_their_identity_and_lose_their_secrets() -> None:
    found: dict[str, list[str]] = {}
    labels = {"alertname": "PostgresDown", "namespace": "shop", "pod": "pg-0",
              "cluster": "prod-eu", "instance": "https://svc:S3cretPw@db.shop.svc:5432/orders",
              "db_password": "hunter2", "api_token": "1234", "token_ttl": "300",
              "secret": "db-credentials", "secret_name": "tls-cert", "password_set": "true"}
    out = redact_labels(labels, lambda key, kinds: found.setdefault(key, kinds))
    assert out["instance"] == "https://svc:[REDACTED:url-password]@db.shop.svc:5432/orders"
    assert out["db_password"] == out["api_token"] == "[REDACTED:secret-value]"
    unchanged = {"alertname", "namespace", "pod", "cluster", "token_ttl", "secret",
                 "secret_name", "password_set"}
    assert {k: out[k] for k in unchanged} == {k: labels[k] for k in unchanged}
    assert set(found) == {"instance", "db_password", "api_token"}
    assert redact_labels(out) == out, "idempotent"


def test_a_pattern_compiles_only_when_a_text_holds_its_needle() -> None:
    # Compiling all of them cost more than a function's whole first redaction (cold start).
    redaction._compiled.cache_clear()
    assert scan("pod checkout crash-looping: exit code 1, back-off 5m") == (
        "pod checkout crash-looping: exit code 1, back-off 5m", [])
    # Only the secret-name matcher, which tells whether a name-anchored rule may match: no rule.
    assert redaction._compiled.cache_info().currsize == 1
    assert scan("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")[1] == ["jwt"]
    assert redaction._compiled.cache_info().currsize == 2
