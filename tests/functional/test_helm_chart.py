"""The Helm chart, rendered offline for several value sets: valid objects and the properties that
matter (scale to zero, hardened pods, secrets only in Secrets, the runbooks, the policy mode).
Eventing and RBAC have their own modules."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from orchestrator.act.policy import parse_policy
from orchestrator.provenance import key_id, public_key_from_pem, signer_from_pem
from tests.functional.helm_support import (
    CANARIES,
    CHART,
    FULLNAME,
    FUNCTIONS,
    NAMESPACE,
    ROOT,
    VALUE_SETS,
    merged,
    render,
    render_values,
    validate,
)

SECRET_DIR = "/var/run/secrets/orchestrator/"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_chart_lints_clean(value_set: str) -> None:
    import helm_python as helm

    for namespace in (NAMESPACE, None):  # None: as plain `helm lint` runs it
        report = helm.lint(str(CHART), VALUE_SETS[value_set], strict=True, namespace=namespace,
                           kube_version="v1.28.0")
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not problems and not report["errors"], problems or report["errors"]


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_rendered_object_is_valid_for_its_kind(value_set: str) -> None:
    rendered = render(value_set)
    assert len(rendered.objects) > 30
    for obj in rendered.objects:
        validate(obj)


def test_strict_validation_catches_a_misplaced_field() -> None:
    ksvc = render("default").function("router")
    broken = merged(ksvc, {"spec": {"template": {"spec": {"timeoutSecond": 30}}}})
    with pytest.raises(AssertionError, match="timeoutSecond"):
        validate(broken)


@pytest.mark.parametrize("values, message", [
    ({"executor": {"policy": {"mode": "yolo"}}}, "mode"),
    ({"console": {"sweepEveryMinutes": 5}}, "sweepEveryMinutes"),
    ({"ingest": {"minScal": 0}}, "minScal"),
    ({"router": {"readRules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}]}},
     "verbs"),
])
def test_schema_refuses_bad_values(values: dict, message: str) -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmValuesError, match=message):
        render_values(values)


@pytest.mark.parametrize("values, message", [
    ({"agent": {"gemini": {"enabled": True}}}, "geminiApiKey"),
    ({"agent": {"openai": {"enabled": True}}}, "openaiApiKey"),
    ({"agent": {"openai": {"enabled": True}, "gemini": {"enabled": True}},
      "secrets": {"geminiApiKey": "k", "openaiApiKey": "k"}}, "choose one LLM provider"),
    ({"console": {"slack": {"enabled": True}}}, "slackSigningSecret"),
    ({"minio": {"bundled": False, "endpoint": "s3.example:443"}}, "minioAccessKey"),
    ({"executor": {"policy": {"namespaces": {"allow": ["kube-system"]}}}}, "both allowed and denied"),
])
def test_a_feature_without_what_it_needs_fails_the_install(values: dict, message: str) -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmRenderError, match=message):
        render_values(values)


def min_scale(value_set: str, fn: str) -> str:
    annotations = render(value_set).function(fn)["spec"]["template"]["metadata"]["annotations"]
    return annotations["autoscaling.knative.dev/min-scale"]


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_function_scales_to_zero_unless_values_say_otherwise(value_set: str) -> None:
    console = VALUE_SETS[value_set].get("console", {})
    slack_warm = console.get("slack", {}).get("enabled", False)
    # Slack calls the console people reach: the public one when there is one.
    slack_calls = "console" if console.get("clusterLocal", True) else "console-web"
    fns = FUNCTIONS if slack_calls == "console" else (*FUNCTIONS, "console-web")
    for fn in fns:
        expected = "1" if fn == slack_calls and slack_warm else "0"
        assert min_scale(value_set, fn) == expected, (value_set, fn)


def test_slack_keep_warm_can_be_declined_and_min_scale_raised() -> None:
    cold = render_values(merged(VALUE_SETS["slack-no-approval"],
                                {"console": {"slack": {"keepWarm": False}}}))
    warm = render_values({"router": {"minScale": 2}})
    ann = "autoscaling.knative.dev/min-scale"
    assert cold.function("console")["spec"]["template"]["metadata"]["annotations"][ann] == "0"
    assert warm.function("router")["spec"]["template"]["metadata"]["annotations"][ann] == "2"


@pytest.mark.parametrize("value_set", ["default", "canaries"])
def test_functions_run_one_image_hardened_with_probes_and_their_own_account(value_set: str) -> None:
    rendered = render(value_set)
    images = set()
    for fn in FUNCTIONS:
        ksvc = rendered.function(fn)
        spec = ksvc["spec"]["template"]["spec"]
        container = rendered.container(fn)
        images.add(container["image"])
        env = rendered.env(fn)
        assert env["FUNCTION_TARGET"] == "handle"
        assert env["FUNCTION_SOURCE"] == f"functions/{fn}/main.py"
        assert (ROOT / env["FUNCTION_SOURCE"]).is_file()
        assert spec["serviceAccountName"] == f"{FULLNAME}-{fn}"
        assert 0 < spec["timeoutSeconds"] <= 600
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["requests"]["memory"]
        assert container["resources"]["limits"]["memory"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], "HOME and TMPDIR need a writable /tmp"
        annotations = ksvc["spec"]["template"]["metadata"]["annotations"]
        assert int(annotations["autoscaling.knative.dev/max-scale"]) >= 1
        assert int(annotations["autoscaling.knative.dev/target"]) >= 1
        labels = ksvc["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == fn
        assert labels["app.kubernetes.io/instance"] == "rel"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    assert len(images) == 1


def test_every_object_carries_the_standard_labels() -> None:
    for obj in render("default").objects:
        labels = obj["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                    "app.kubernetes.io/component", "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by", "helm.sh/chart"):
            assert key in labels, f"{obj['kind']} {obj['metadata']['name']} lacks {key}"


def _outside_secrets(value_set: str) -> str:
    rendered = render(value_set)
    docs = [o for o in rendered.objects if o["kind"] != "Secret"]
    return yaml.safe_dump_all(docs) + rendered.notes


@pytest.mark.parametrize("value_set", ["canaries", "external-stores", "slack-no-approval"])
def test_no_secret_value_appears_outside_a_secret(value_set: str) -> None:
    given = VALUE_SETS[value_set]["secrets"]
    text = _outside_secrets(value_set)
    (secret,) = render(value_set).of_kind("Secret")
    stored = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    for name, value in given.items():
        assert value not in text, f"secrets.{name} leaked outside the Secret"
        assert value in stored.values(), f"secrets.{name} is not in the Secret"
    for value in stored.values():
        assert value not in text


def test_empty_tokens_and_keys_are_generated_not_left_empty() -> None:
    (secret,) = render("default").of_kind("Secret")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    for key in ("ingest-token", "api-token", "minio-access-key", "minio-secret-key",
                "qdrant-api-key"):
        assert len(data[key]) >= 20, key
    for fn in FUNCTIONS:  # an Ed25519 pair per function: the certificate holds the key's half
        signer = signer_from_pem(fn, data[f"{fn}.key"])
        assert key_id(public_key_from_pem(data[f"{fn}.crt"])) == signer.key_id, fn
    assert "gemini-api-key" not in data and "slack-bot-token" not in data
    again = render_values({}).of_kind("Secret")[0]["data"]
    assert again["ingest-token"] != secret["data"]["ingest-token"], "tokens must be random"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def _secret_files(value_set: str, fn: str) -> tuple[set[str], dict[str, str]]:
    rendered = render(value_set)
    spec = rendered.function(fn)["spec"]["template"]["spec"]
    mounted: set[str] = set()
    for volume in spec["volumes"]:
        for source in volume.get("projected", {}).get("sources", []):
            assert source["secret"]["name"] in (f"{FULLNAME}-secrets",
                                                VALUE_SETS[value_set].get("secrets", {}).get(
                                                    "existingSecret"))
            mounted |= {item["path"] for item in source["secret"]["items"]}
    files = {k: v for k, v in rendered.env(fn).items() if v.startswith(SECRET_DIR)}
    return mounted, files


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_each_function_mounts_exactly_the_secret_files_its_settings_name(value_set: str) -> None:
    for fn in FUNCTIONS:
        mounted, files = _secret_files(value_set, fn)
        assert all(name.endswith("_FILE") for name in files), files
        named = {path.removeprefix(SECRET_DIR) for path in files.values()}
        # Public keys are read as a folder (<FN>_PUBLIC_KEYS_DIR), not one _FILE each.
        assert named == {m for m in mounted if not m.endswith(".crt")}, fn
    assert _secret_files(value_set, "router")[0] == {"router.key", "ingest.crt", "executor.crt",
                                                     "ingest.next.crt", "executor.next.crt"}
    assert _secret_files(value_set, "ingest")[0] == {"ingest-token", "ingest.key"}


def test_the_openai_provider_reaches_the_agents_settings() -> None:
    env = render("openai").env("agent")
    assert env["AGENT_LLM_PROVIDER"] == "openai"
    assert env["AGENT_OPENAI_BASE_URL"] == "http://vllm.ai:8000/v1"
    assert env["AGENT_OPENAI_MODEL"] == "qwen2.5-7b-instruct"
    assert "AGENT_OPENAI_API_VERSION" not in env and "AGENT_GEMINI_API_KEY_FILE" not in env
    assert env["AGENT_OPENAI_API_KEY_FILE"] == SECRET_DIR + "openai-api-key"
    assert "AGENT_LLM_PROVIDER" not in render("default").env("agent")


def test_existing_secret_is_used_and_nothing_is_generated() -> None:
    rendered = render("existing-secret")
    assert rendered.of_kind("Secret") == []
    refs = set()
    for obj in rendered.objects:
        text = yaml.safe_dump(obj)
        if "rel-orchestrator-secrets" in text:
            refs.add(obj["kind"])
    assert not refs, f"{refs} still refer to the chart's own Secret"
    assert "gemini-api-key" in _secret_files("existing-secret", "agent")[0]
    assert "slack-signing-secret" in _secret_files("existing-secret", "console")[0]


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_each_function_holds_only_its_own_private_key_and_its_producers_public_keys(
        value_set: str) -> None:
    """A verifier cannot forge: no pod mounts another function's private key; each mounts the
    certificates of exactly the producers its event types come from."""
    verifies = {"ingest": set(), "router": {"ingest", "executor"}, "agent": {"router"},
                "executor": {"agent", "console", "executor"}, "console": set(FUNCTIONS)}
    for fn in FUNCTIONS:
        mounted, files = _secret_files(value_set, fn)
        assert {m for m in mounted if m.endswith(".key")} == {f"{fn}.key"}, fn
        current = {m for m in mounted if m.endswith(".crt") and not m.endswith(".next.crt")}
        assert {m.removesuffix(".crt") for m in current} == verifies[fn]
        # ... and, optionally, each one's next key while it rotates.
        assert {m for m in mounted if m.endswith(".next.crt")} == {
            f"{p}.next.crt" for p in verifies[fn]}
        env = render(value_set).env(fn)
        assert env[f"{fn.upper()}_SIGNING_KEY_FILE"] == f"{SECRET_DIR}{fn}.key"
        assert (f"{fn.upper()}_PUBLIC_KEYS_DIR" in env) == bool(verifies[fn]), fn


def _runbooks_configmap(value_set: str) -> dict[str, str]:
    return render(value_set).one("ConfigMap", f"{FULLNAME}-runbooks")["data"]


def test_runbook_configmap_equals_the_repository_runbooks() -> None:
    source = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "runbooks").glob("*.md")}
    assert len(source) >= 10
    assert _runbooks_configmap("default") == source


def test_the_charts_runbooks_are_a_byte_equal_copy_of_runbooks_dir() -> None:
    source = sorted((ROOT / "runbooks").glob("*.md"))
    copy = sorted((CHART / "files" / "runbooks").glob("*.md"))
    hint = "run scripts/sync-chart-runbooks"
    assert [p.name for p in copy] == [p.name for p in source], hint
    for a, b in zip(source, copy, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{b} drifted from {a}: {hint}"


def _policy(value_set: str) -> str:
    return render(value_set).one("ConfigMap", f"{FULLNAME}-policy")["data"]["policy.yaml"]


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_policy_is_dry_run_unless_values_say_enforce_and_the_executor_accepts_it(
    value_set: str,
) -> None:
    policy = parse_policy(_policy(value_set), source=value_set)
    wanted = VALUE_SETS[value_set].get("executor", {}).get("policy", {}).get("mode", "dry-run")
    assert policy.mode == wanted
    assert "kube-system" in policy.namespaces.deny
    env = render(value_set).env("executor")
    assert env["EXECUTOR_POLICY_FILE"] == "/etc/orchestrator/policy/policy.yaml"
    assert "EXECUTOR_MODE" not in env, "the mode comes from the policy file alone"


def test_kube_system_stays_denied_even_when_values_drop_it() -> None:
    rendered = render_values({"executor": {"policy": {"namespaces": {"deny": []}}}})
    text = rendered.one("ConfigMap", f"{FULLNAME}-policy")["data"]["policy.yaml"]
    assert parse_policy(text).namespaces.deny == ["kube-system"]


def test_policy_change_rolls_a_new_executor_revision() -> None:
    key = "checksum/policy"
    a = render("default").function("executor")["spec"]["template"]["metadata"]["annotations"][key]
    b = render("slack-no-approval").function("executor")["spec"]["template"]["metadata"][
        "annotations"][key]
    assert a != b


def test_index_job_waits_for_the_stores_then_indexes_the_charts_runbooks() -> None:
    rendered = render("default")
    (job,) = rendered.of_kind("Job")
    # A plain Job, not a hook: the release does not wait for hydration (test_helm_chart_deploy).
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    spec = job["spec"]["template"]["spec"]
    (wait,) = spec["initContainers"]
    assert wait["command"] == ["python", "/scripts/wait_ready.py"]
    assert any("minio/health/ready" in a for a in wait["args"])
    assert any(a.endswith("/readyz") for a in wait["args"])
    (index,) = spec["containers"]
    assert index["command"] == ["orchestrator", "runbooks", "index", "--source", "/runbooks"]
    assert index["image"] == rendered.container("agent")["image"]
    env = {e["name"]: e.get("value") for e in index["env"]}
    assert env["KB_EMBEDDING_MODEL"] == "none"
    assert not [k for k in env if "EMBEDDING_API_KEY" in k or "GEMINI" in k], \
        "no Gemini key unless dense embeddings are configured"
    with_dense = render("canaries").of_kind("Job")[0]["spec"]["template"]["spec"]["containers"][0]
    assert "KB_EMBEDDING_API_KEY_FILE" in {e["name"] for e in with_dense["env"]}


def test_external_stores_render_no_statefulset_and_point_everyone_at_the_endpoints() -> None:
    rendered = render("external-stores")
    assert rendered.of_kind("StatefulSet") == []
    for env in (rendered.env("agent"),
                {e["name"]: e.get("value") for e in
                 rendered.of_kind("Job")[0]["spec"]["template"]["spec"]["containers"][0]["env"]}):
        assert env["KB_MINIO_ENDPOINT"] == "s3.storage.example:9000"
        assert env["KB_MINIO_SECURE"] == "true"
        assert env["KB_QDRANT_URL"] == "https://qdrant.example:6333"
    bundled = render("default")
    claims = {s["metadata"]["name"]: s["spec"]["volumeClaimTemplates"]
              for s in bundled.of_kind("StatefulSet")}
    assert set(claims) == {f"{FULLNAME}-minio", f"{FULLNAME}-qdrant"}
    assert all(c for c in claims.values()), "the stores must survive restarts (PVCs)"


def test_helm_test_hook_sends_a_test_alert_and_reads_the_audit_log() -> None:
    pod = render("default").one("Pod", f"{FULLNAME}-test-loop")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["INGEST_URL"] == f"http://{FULLNAME}-ingest.{NAMESPACE}.svc.cluster.local/"
    assert env["CONSOLE_URL"] == f"http://{FULLNAME}-console.{NAMESPACE}.svc.cluster.local"
    script = render("default").one("ConfigMap", f"{FULLNAME}-scripts")["data"]["helm_test.py"]
    assert '"test": True' in script
    assert script == (CHART / "files/scripts/helm_test.py").read_text()


def test_notes_give_the_alertmanager_receiver_and_how_to_enforce() -> None:
    notes = render("default").notes
    assert f"url: http://{FULLNAME}-ingest.{NAMESPACE}.svc.cluster.local/alert" in notes
    assert "credentials_file: /etc/alertmanager/secrets/rel-orchestrator-secrets/ingest-token" \
        in notes
    assert "executor.policy.mode=enforce" in notes
    assert "ENFORCE" in render("enforce-everywhere").notes


def test_docs_describe_every_top_level_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    doc = Path(ROOT / "docs" / "deploy.md").read_text()
    missing = [k for k in values if f"`{k}" not in doc]
    assert not missing, f"docs/deploy.md does not mention {missing}"


def test_canary_values_cover_every_secret_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["secrets"]) - {"existingSecret"} == set(CANARIES)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_every_function_answers_the_charts_probes(fn: str) -> None:
    """Knative marks a revision ready only when the probe path answers 200."""
    import functions_framework

    path = render("default").container(fn)["readinessProbe"]["httpGet"]["path"]
    app = functions_framework.create_app(
        target="handle", source=str(ROOT / "functions" / fn / "main.py"), signature_type="http")
    response = app.test_client().get(path)
    assert response.status_code == 200, f"{fn}: GET {path} -> {response.status_code}"


def test_runbooks_fit_in_one_configmap() -> None:
    size = sum(len(v.encode()) for v in _runbooks_configmap("default").values())
    assert size < 900 * 1024, "a ConfigMap holds at most 1 MiB; split the runbooks"
