"""The chart's approver identities: personal tokens come from a Secret of the operator's mounted
into the console alone, Slack users map to people, the proxy's identity header is trusted only
where people reach the console, and the sweep keeps its own token, which cannot decide."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.helm_support import FULLNAME, Rendered, render, render_values, validate
from tests.functional.test_helm_chart_settings import known_names

IDENTITY = {"tokensSecret": "console-people", "tokensKey": "people.json",
            "slackUsers": {"U024BE7LH": "alice@example.com", "W0123ABCD": "bob@example.com"},
            "header": "X-Auth-Request-Email"}
MOUNT = "/var/run/secrets/orchestrator-approvers"


def _render(**console: Any) -> Rendered:
    return render_values({"console": {"identity": IDENTITY, **console}})


def _env(svc: dict[str, Any]) -> dict[str, str]:
    (c,) = svc["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in c.get("env", [])}


def _tokens_volume(svc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = svc["spec"]["template"]["spec"]
    return [v for v in spec["volumes"] if v["name"] == "approver-tokens"]


def test_personal_tokens_are_a_mounted_secret_of_the_operators() -> None:
    r = _render(clusterLocal=False)
    for name in ("console", "console-web"):
        svc = r.one("Service", f"{FULLNAME}-{name}")
        validate(svc)
        env = _env(svc)
        assert env["CONSOLE_APPROVER_TOKENS_FILE"] == f"{MOUNT}/people.json"
        assert "CONSOLE_APPROVER_TOKENS" not in env
        assert env["CONSOLE_SLACK_APPROVERS"] == ("U024BE7LH=alice@example.com,"
                                                  "W0123ABCD=bob@example.com")
        (volume,) = _tokens_volume(svc)
        assert volume["secret"]["secretName"] == "console-people"
        assert volume["secret"]["items"] == [{"key": "people.json", "path": "people.json"}]
        (c,) = svc["spec"]["template"]["spec"]["containers"]
        assert {"name": "approver-tokens", "mountPath": MOUNT, "readOnly": True} in \
            c["volumeMounts"]
        assert not set(env) - known_names("console")
    # Nothing else mounts the people's tokens: not the sweep, not another function.
    for obj in r.objects:
        if obj["kind"] in ("Service", "CronJob", "Job") and \
                not obj["metadata"]["name"].startswith(f"{FULLNAME}-console"):
            assert "console-people" not in str(obj), obj["metadata"]["name"]


def test_the_identity_header_is_trusted_only_where_people_come_in() -> None:
    public = _render(clusterLocal=False)
    assert _env(public.one("Service", f"{FULLNAME}-console-web"))[
        "CONSOLE_IDENTITY_HEADER"] == "X-Auth-Request-Email"
    # The cluster-local console takes the broker's deliveries; any pod can reach it.
    assert "CONSOLE_IDENTITY_HEADER" not in _env(public.one("Service", f"{FULLNAME}-console"))
    local = _render(clusterLocal=True)
    assert _env(local.one("Service", f"{FULLNAME}-console"))[
        "CONSOLE_IDENTITY_HEADER"] == "X-Auth-Request-Email"


def test_by_default_no_header_is_trusted_and_no_tokens_are_mounted() -> None:
    svc = render("default").function("console")
    env = _env(svc)
    assert not {"CONSOLE_IDENTITY_HEADER", "CONSOLE_APPROVER_TOKENS_FILE",
                "CONSOLE_SLACK_APPROVERS"} & set(env)
    assert _tokens_volume(svc) == []


def test_the_notes_say_when_nobody_can_approve() -> None:
    assert "nobody can approve yet" in render("default").notes
    assert "nobody can approve yet" not in _render().notes


def test_the_sweep_keeps_the_service_token_only() -> None:
    (cron,) = _render().of_kind("CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (source,) = pod["volumes"][0]["projected"]["sources"]
    assert source["secret"]["items"] == [{"key": "api-token", "path": "api-token"}]
    assert "console-people" not in str(cron)


@pytest.mark.parametrize("identity", [
    {"tokens": {"a-token-in-plain-values": "alice@example.com"}},  # no such value: a Secret
    {"slackUsers": {"alice": "alice@example.com"}},
    {"header": "X-Auth: evil"},
])
def test_the_schema_refuses_tokens_in_values_and_malformed_entries(
        identity: dict[str, Any]) -> None:
    from helm_python.errors import HelmValuesError

    with pytest.raises(HelmValuesError):
        render_values({"console": {"identity": identity}})
