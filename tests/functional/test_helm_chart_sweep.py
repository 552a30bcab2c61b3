"""The console's sweep as the chart runs it: a CronJob (not a PingSource, which cannot send the
bearer token /sweep wants) running `orchestrator sweep` every N ≥ 10 minutes, hardened, without
cluster rights, with the API token mounted from the Secret as a file and nowhere else.
The command itself is run against the real console in test_sweep_cli.py."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from orchestrator.cli import build_parser
from tests.functional.helm_support import (
    FULLNAME,
    KNATIVE_KINDS,
    NAMESPACE,
    VALUE_SETS,
    Rendered,
    chart_values,
    render,
    render_values,
    validate,
)

SECRET_DIR = "/var/run/secrets/orchestrator"
CONSOLE_URL = f"http://{FULLNAME}-console.{NAMESPACE}.svc.cluster.local"


def cronjob(rendered: Rendered) -> dict[str, Any]:
    (cj,) = rendered.of_kind("CronJob")
    assert cj["metadata"]["name"] == f"{FULLNAME}-sweep"
    return cj


def pod_spec(rendered: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob(rendered)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def container(rendered: Rendered) -> dict[str, Any]:
    (c,) = pod_spec(rendered)["containers"]
    found: dict[str, Any] = c
    return found


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.mark.parametrize("every", [None, 10, 15, 60])
def test_the_sweep_runs_every_ten_minutes_at_most(every: int | None) -> None:
    rendered = render("default") if every is None else render_values(
        {"console": {"sweepEveryMinutes": every}})
    minute, *rest = cronjob(rendered)["spec"]["schedule"].split()
    assert rest == ["*", "*", "*", "*"] and minute.startswith("*/")
    assert int(minute[2:]) == (every or chart_values()["console"]["sweepEveryMinutes"])
    assert int(minute[2:]) >= 10 and 60 % int(minute[2:]) == 0
    assert rendered.of_kind("PingSource") == []


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_the_cronjob_is_a_valid_core_object_and_never_overlaps(value_set: str) -> None:
    rendered = render(value_set)
    cj = cronjob(rendered)
    assert (cj["apiVersion"], cj["kind"]) == ("batch/v1", "CronJob")
    assert (cj["apiVersion"], cj["kind"]) not in KNATIVE_KINDS
    validate(cj)  # kubernetes-validate, strict: an unknown field fails
    spec = cj["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 1 <= spec["successfulJobsHistoryLimit"] <= 3
    assert 1 <= spec["failedJobsHistoryLimit"] <= 3
    interval = int(spec["schedule"].split()[0][2:]) * 60
    assert spec["startingDeadlineSeconds"] < interval
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] < interval
    assert pod_spec(rendered)["restartPolicy"] == "Never"
    # The pod waits for a cold console longer than the console's own request timeout, and the
    # deadline leaves that wait room to finish.
    timeout = float(option(container(rendered)["command"], "--timeout"))
    assert rendered.function("console")["spec"]["template"]["spec"]["timeoutSeconds"] < timeout
    assert timeout < job["activeDeadlineSeconds"]


def test_a_deadline_shorter_than_the_consoles_answer_fails_the_install() -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmRenderError, match="activeDeadlineSeconds"):
        render_values({"console": {"sweepJob": {"activeDeadlineSeconds": 100}}})


@pytest.mark.parametrize("value_set", ["default", "canaries"])
def test_the_sweep_pod_is_hardened_and_has_no_cluster_rights(value_set: str) -> None:
    rendered = render(value_set)
    spec, c = pod_spec(rendered), container(rendered)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]
    assert c["image"] == rendered.container("console")["image"]
    account = f"{FULLNAME}-jobs"
    assert spec["serviceAccountName"] == account
    assert spec["automountServiceAccountToken"] is False
    assert rendered.one("ServiceAccount", account)["automountServiceAccountToken"] is False
    bound = [b["metadata"]["name"] for b in
             rendered.of_kind("RoleBinding") + rendered.of_kind("ClusterRoleBinding")
             if any(s.get("name") == account for s in b["subjects"])]
    assert bound == [], "the sweep needs no Kubernetes API rights"


def _api_token(rendered: Rendered, value_set: str) -> str | None:
    given: str | None = VALUE_SETS[value_set].get("secrets", {}).get("apiToken")
    secrets = rendered.of_kind("Secret")
    if not secrets:
        return given  # an existing Secret: the chart never sees the value
    return base64.b64decode(str(secrets[0]["data"]["api-token"])).decode()


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_the_token_is_a_file_from_the_secret_never_an_env_value_or_a_configmap(
    value_set: str,
) -> None:
    rendered = render(value_set)
    spec, c = pod_spec(rendered), container(rendered)
    command = c["command"]
    assert command[:2] == ["orchestrator", "sweep"]
    assert option(command, "--console") == CONSOLE_URL
    assert "--token" not in command, "a token on the command line is visible to anyone"
    token_file = option(command, "--token-file")
    assert "env" not in c and "envFrom" not in c
    (mount,) = c["volumeMounts"]
    assert mount["mountPath"] == SECRET_DIR and mount["readOnly"] is True
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    (source,) = volume["projected"]["sources"]
    secret_name = VALUE_SETS[value_set].get("secrets", {}).get("existingSecret") or \
        f"{FULLNAME}-secrets"
    assert source["secret"]["name"] == secret_name
    assert source["secret"]["items"] == [{"key": "api-token", "path": "api-token"}]
    assert token_file == f"{SECRET_DIR}/api-token"
    token = _api_token(rendered, value_set)
    if token:
        assert token not in yaml.safe_dump(cronjob(rendered))
        for cm in rendered.of_kind("ConfigMap"):
            assert token not in yaml.safe_dump(cm), cm["metadata"]["name"]


@pytest.mark.parametrize("value_set", ["default", "slack-no-approval"])
def test_the_url_is_the_consoles_cluster_local_address_whatever_its_visibility(
    value_set: str,
) -> None:
    """Knative serves every Service at <name>.<namespace>.svc.cluster.local, public or not."""
    rendered = render(value_set)
    ksvc = rendered.function("console")
    host = option(container(rendered)["command"], "--console").removeprefix("http://")
    assert host == f"{ksvc['metadata']['name']}.{ksvc['metadata']['namespace']}.svc.cluster.local"


def test_network_policies_admit_the_sweep_on_its_way_to_the_console() -> None:
    """The sweep reaches the console through Knative's cluster-local gateway (and the activator
    while it is cold) or, with a mesh, pod to pod: every policy selecting the console's pods
    admits the gateway's and the activator's namespaces and the sweep's own pod."""
    for value_set in sorted(VALUE_SETS):
        rendered = render(value_set)
        labels = rendered.function("console")["spec"]["template"]["metadata"]["labels"]
        sweep = rendered.one("CronJob", f"{FULLNAME}-sweep")["spec"]["jobTemplate"]["spec"][
            "template"]["metadata"]["labels"]
        selecting = [p for p in rendered.of_kind("NetworkPolicy")
                     if p["metadata"]["namespace"] == NAMESPACE
                     and _selects(p["spec"]["podSelector"], labels)]
        assert selecting, value_set
        for policy in selecting:
            peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
            namespaces = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                          for p in peers if set(p) == {"namespaceSelector"}}
            assert {"knative-serving", "kourier-system"} <= namespaces, value_set
            assert any(set(p) == {"podSelector"} and _selects(p["podSelector"], sweep)
                       for p in peers), value_set
    # The matcher does match: the storage policy selects the bundled MinIO's pods.
    rendered = render("default")
    minio = rendered.one("StatefulSet", f"{FULLNAME}-minio")["spec"]["template"]["metadata"]
    storage = rendered.one("NetworkPolicy", f"{FULLNAME}-storage")["spec"]["podSelector"]
    assert _selects(storage, minio["labels"])


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for e in selector.get("matchExpressions", []):
        have = labels.get(e["key"])
        ok = {"In": have in e.get("values", []), "NotIn": have not in e.get("values", []),
              "Exists": have is not None, "DoesNotExist": have is None}[e["operator"]]
        if not ok:
            return False
    return True


def test_the_cli_accepts_the_charts_command() -> None:
    command = container(render("default"))["command"]
    args = build_parser().parse_args(command[1:])
    assert args.run.__name__ == "_sweep_cmd"
    assert (args.console, str(args.token_file), args.token) == (
        CONSOLE_URL, f"{SECRET_DIR}/api-token", None)
