"""The chart wires Knative's sender identity: with `oidc.enabled`, each Trigger and the
dead-letter sink name their function's audience, and the function is told to verify exactly
that audience, with the cluster's issuer and keys (defence in depth beside the signatures)."""

from __future__ import annotations

from tests.functional.helm_support import FULLNAME, NAMESPACE, render, render_values

DELIVERED = ("router", "agent", "executor", "console")
PREFIX = {"router": "ROUTER_", "agent": "AGENT_", "executor": "EXECUTOR_",
          "console": "CONSOLE_"}


def audience(fn: str) -> str:
    return f"serving.knative.dev/service/{NAMESPACE}/{FULLNAME}-{fn}"


def test_each_trigger_names_its_subscribers_audience_and_the_function_verifies_it() -> None:
    r = render("enforce-everywhere")  # oidc.enabled
    triggers = r.of_kind("Trigger")
    assert triggers
    for t in triggers:
        fn = t["spec"]["subscriber"]["ref"]["name"].removeprefix(f"{FULLNAME}-")
        assert t["spec"]["subscriber"]["audience"] == audience(fn)
        assert r.env(fn)[f"{PREFIX[fn]}OIDC_AUDIENCE"] == audience(fn)
    (broker,) = r.of_kind("Broker")
    assert broker["spec"]["delivery"]["deadLetterSink"]["audience"] == audience("console")
    for fn in DELIVERED:
        env = r.env(fn)
        p = PREFIX[fn]
        assert env[f"{p}OIDC_ISSUER"] == "https://kubernetes.default.svc.cluster.local"
        assert env[f"{p}OIDC_JWKS_URL"] == "https://kubernetes.default.svc/openid/v1/jwks"
        assert env[f"{p}OIDC_TOKEN_FILE"].endswith("/serviceaccount/token")
        account = r.one("ServiceAccount", f"{FULLNAME}-{fn}")
        assert account["automountServiceAccountToken"] is True  # to fetch the issuer's keys
    # Ingest takes Alertmanager's webhook, not deliveries; it keeps no token and checks none.
    assert not [k for k in r.env("ingest") if "OIDC" in k]
    assert r.one("ServiceAccount", f"{FULLNAME}-ingest")["automountServiceAccountToken"] is False


def test_off_by_default_and_when_not_verifying() -> None:
    for r in (render("default"),
              render_values({"oidc": {"enabled": True, "verifySender": False}})):
        for fn in DELIVERED:
            assert not [k for k in r.env(fn) if "OIDC" in k]
        for fn in ("agent", "console"):
            account = r.one("ServiceAccount", f"{FULLNAME}-{fn}")
            assert account["automountServiceAccountToken"] is False
    assert all("audience" not in t["spec"]["subscriber"]
               for t in render("default").of_kind("Trigger"))


def test_a_managed_clusters_issuer_and_public_keys() -> None:
    r = render_values({"oidc": {"enabled": True, "issuer": "https://oidc.eks.example/id/ABC",
                                "jwksUrl": ""}})
    env = r.env("executor")
    assert env["EXECUTOR_OIDC_ISSUER"] == "https://oidc.eks.example/id/ABC"
    assert "EXECUTOR_OIDC_JWKS_URL" not in env  # discovered from the issuer
