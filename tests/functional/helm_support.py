"""Render the Helm chart offline, once per value set, and validate what comes out.

No helm binary exists here: helm-python-sdk embeds the Helm SDK and renders exactly as `helm
template` does (`.Files.Glob` included). Core kinds are checked against the Kubernetes JSON
schemas (kubernetes-validate, strict: unknown fields fail), Knative kinds against the cloudcoil
models generated from Knative's CRDs, strictly too: a field the model drops is a typo.
"""

from __future__ import annotations

import copy
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "orchestrator"
RELEASE = "rel"
NAMESPACE = "incidents"
FULLNAME = "rel-orchestrator"
FUNCTIONS = ("ingest", "router", "agent", "executor", "console")
KUBE_VERSION = "1.30"

# Distinctive secret values: none of them may appear anywhere but inside a Secret.
CANARIES = {
    "geminiApiKey": "canary-gemini-9c1e47",
    "openaiApiKey": "canary-openai-5b2d80",
    "ingestToken": "canary-ingest-5a8d21",
    "apiToken": "canary-api-0f7b33",
    "slackSigningSecret": "canary-slacksig-7d4e58",
    "slackBotToken": "canary-slackbot-2c6f04",
    "webhookUrl": "https://hooks.example/canary-webhook-8a1d77",
    "minioAccessKey": "canary-minioak-4e0b65",
    "minioSecretKey": "canary-miniosk-9f3c28",
    "qdrantApiKey": "canary-qdrant-1a7e93",
}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    # Every secret given (canaries), bundled stores, LLM planner and dense embeddings on.
    "canaries": {
        "secrets": CANARIES,
        "agent": {"gemini": {"enabled": True}},
        "knowledge": {"embeddingModel": "gemini-embedding-001"},
        "console": {"slack": {"enabled": True, "channel": "#incidents"},
                    "webhook": {"enabled": True}},
    },
    "external-stores": {
        "minio": {"bundled": False, "endpoint": "s3.storage.example:9000", "secure": True,
                  "region": "eu-west-1"},
        "qdrant": {"bundled": False, "url": "https://qdrant.example:6333"},
        "secrets": {k: CANARIES[k] for k in ("minioAccessKey", "minioSecretKey", "qdrantApiKey")},
    },
    # The LLM planner on an OpenAI-compatible server (here a vLLM in the cluster).
    "openai": {
        "secrets": {"openaiApiKey": CANARIES["openaiApiKey"]},
        "agent": {"openai": {"enabled": True, "baseUrl": "http://vllm.ai:8000/v1",
                             "model": "qwen2.5-7b-instruct"}},
    },
    "existing-secret": {
        "secrets": {"existingSecret": "ops-managed-secrets"},
        "agent": {"gemini": {"enabled": True}},
        "console": {"slack": {"enabled": True}},
    },
    # Slack on (console kept warm), human approval off, a second namespace to act in.
    "slack-no-approval": {
        "secrets": {"slackSigningSecret": CANARIES["slackSigningSecret"],
                    "slackBotToken": CANARIES["slackBotToken"]},
        "console": {"slack": {"enabled": True}, "clusterLocal": False},
        "approvals": {"enabled": False},
        "executor": {"policy": {"namespaces": {"allow": ["payments", "shop"]}}},
    },
    # Everything a cautious default leaves off: enforce, every namespace, nodes, OIDC, own
    # data plane, a Kafka config the cluster already has.
    "enforce-everywhere": {
        "executor": {"policy": {"mode": "enforce", "namespaces": {"allow": ["*"]},
                                "actions": {"cordon_node": {"allowed": True, "risk": "high",
                                                            "auto_approve": False}}},
                     "writeClusterWide": True},
        "router": {"readClusterWide": True},
        "oidc": {"enabled": True, "extraSubjects": ["system:serviceaccount:ops:pager"]},
        "broker": {"class": "KafkaNamespaced",
                   "kafka": {"existingConfigMap": {"name": "kafka-broker-config",
                                                   "namespace": "knative-eventing"}}},
        "networkPolicy": {"brokerIngress": {"enabled": True, "allowFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}]}},
    },
}


@dataclass(frozen=True)
class Rendered:
    """One render: manifests by template path, and every object in them."""

    manifests: dict[str, str]
    objects: tuple[dict[str, Any], ...]
    notes: str

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{len(found)} {kind} named {name}"
        return found[0]

    def function(self, fn: str) -> dict[str, Any]:
        """A function's Knative Service."""
        return self.one("Service", f"{FULLNAME}-{fn}")

    def container(self, fn: str) -> dict[str, Any]:
        (c,) = self.function(fn)["spec"]["template"]["spec"]["containers"]
        return c

    def env(self, fn: str) -> dict[str, str]:
        return {e["name"]: e.get("value", "") for e in self.container(fn).get("env", [])}


def merged(values: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(values)
    for k, v in overlay.items():
        out[k] = merged(out.get(k, {}), v) if isinstance(v, dict) else copy.deepcopy(v)
    return out


# What every install must give (the chart brings no Kafka); `render_values(..., base=None)`
# renders without it.
REQUIRED: dict[str, Any] = {"broker": {"kafka": {
    "bootstrapServers": "my-cluster-kafka-bootstrap.kafka:9092"}}}


def render_values(values: dict[str, Any], *,
                  base: dict[str, Any] | None = REQUIRED) -> Rendered:
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(merged(base or {}, values), name=RELEASE, namespace=NAMESPACE,
                                 is_install=True)
    objects = []
    notes = ""
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes += text
            continue
        objects.extend(d for d in yaml.safe_load_all(text) if d)
    return Rendered(manifests=manifests, objects=tuple(objects), notes=notes)


@functools.cache
def render(value_set: str) -> Rendered:
    """The chart rendered with one of VALUE_SETS (cached: every test reads the same render)."""
    return render_values(VALUE_SETS[value_set])


def chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


# Fields Knative accepts that the models (generated from Knative's CRD schemas) lack: the CRDs
# leave feature-flagged fields out. `delivery.timeout` is the beta `delivery-timeout` feature,
# enabled by default (knative/eventing config-features); the eventing tests check its format.
SCHEMA_GAPS = {".spec.delivery.timeout"}

KNATIVE_KINDS = {
    ("serving.knative.dev/v1", "Service"),
    ("eventing.knative.dev/v1", "Broker"),
    ("eventing.knative.dev/v1", "Trigger"),
    ("eventing.knative.dev/v1alpha1", "EventPolicy"),
    ("sources.knative.dev/v1", "SinkBinding"),
}


@functools.cache
def _knative_models() -> dict[tuple[str, str], Any]:
    with warnings.catch_warnings():
        # cloudcoil's generated models shadow BaseModel attributes ("name", "namespace") and
        # pydantic warns about it at import; harmless for validation.
        warnings.simplefilter("ignore", UserWarning)
        from cloudcoil.models.knative_eventing.eventing import v1 as eventing_v1
        from cloudcoil.models.knative_eventing.eventing import v1alpha1 as eventing_v1alpha1
        from cloudcoil.models.knative_eventing.sources import v1 as sources_v1
        from cloudcoil.models.knative_serving.serving import v1 as serving_v1
    return {
        ("serving.knative.dev/v1", "Service"): serving_v1.Service,
        ("eventing.knative.dev/v1", "Broker"): eventing_v1.Broker,
        ("eventing.knative.dev/v1", "Trigger"): eventing_v1.Trigger,
        ("eventing.knative.dev/v1alpha1", "EventPolicy"): eventing_v1alpha1.EventPolicy,
        ("sources.knative.dev/v1", "SinkBinding"): sources_v1.SinkBinding,
    }


def validate(obj: dict[str, Any]) -> None:
    """Raise when `obj` is not a valid object of its kind (unknown fields included)."""
    key = (obj["apiVersion"], obj["kind"])
    if key in KNATIVE_KINDS:
        model = _knative_models()[key]
        parsed = model.model_validate(obj)
        again = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
        dropped = [d for d in _differences(obj, again) if d not in SCHEMA_GAPS]
        assert not dropped, f"{obj['kind']} {obj['metadata']['name']}: not in the schema: {dropped}"
        return
    import kubernetes_validate

    kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where `b` (the model's round trip) lost or changed what `a` (the manifest) says."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k, v in a.items():
            if k not in b:
                out.append(f"{path}.{k}")
            else:
                out.extend(_differences(v, b[k], f"{path}.{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} became {b!r}"]
