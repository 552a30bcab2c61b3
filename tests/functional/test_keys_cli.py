"""`orchestrator keys secret`: the Secret a GitOps install names in `secrets.existingSecret`,
made once, so no render rotates a token or a signing key."""

from __future__ import annotations

import base64
import subprocess
import sys

import yaml

from orchestrator.provenance import Keyring, key_id, public_key_from_pem, signer_from_pem
from orchestrator.signing import sign, verify
from tests.functional.helm_support import FULLNAME, render_values


def _made() -> dict[str, str]:
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "keys", "secret",
                           "--name", "ops-secrets", "--namespace", "incidents"],
                          capture_output=True, text=True, timeout=60, check=True)
    doc = yaml.safe_load(done.stdout)
    assert (doc["kind"], doc["metadata"]["name"]) == ("Secret", "ops-secrets")
    assert "secrets.existingSecret=ops-secrets" in done.stderr
    return {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}


def test_every_function_gets_a_working_pair_and_the_tokens_are_fresh() -> None:
    first, second = _made(), _made()
    for token in ("ingest-token", "api-token", "minio-access-key", "minio-secret-key"):
        assert len(first[token]) >= 20 and first[token] != second[token]
    for fn in ("ingest", "router", "agent", "executor", "console"):
        signer = signer_from_pem(fn, first[f"{fn}.key"])
        public = public_key_from_pem(first[f"{fn}.crt"])
        assert first[f"{fn}.crt"].startswith("-----BEGIN CERTIFICATE-----")
        assert signer.key_id == key_id(public)
        ring = Keyring({f"{fn}/{key_id(public)}": (fn, public)})
        assert verify(ring, fn, b"payload", sign(signer, b"payload"))
        assert not verify(ring, fn, b"other", sign(signer, b"payload"))
        assert first[f"{fn}.key"] != second[f"{fn}.key"]


def test_the_chart_mounts_the_made_secret_and_generates_nothing() -> None:
    rendered = render_values({"secrets": {"existingSecret": "ops-secrets"}})
    assert not [s for s in rendered.of_kind("Secret") if s["metadata"]["name"].startswith(
        FULLNAME)]
    made = set(_made())
    checked = 0
    for svc in rendered.of_kind("Service"):
        if svc["apiVersion"] != "serving.knative.dev/v1":
            continue
        for volume in svc["spec"]["template"]["spec"]["volumes"]:
            sources = volume.get("projected", {}).get("sources", [])
            for secret in [src["secret"] for src in sources if "secret" in src]:
                if secret["name"] != "ops-secrets" or secret.get("optional"):
                    continue  # optional: the next keys while rotating
                wanted = {item["key"] for item in secret.get("items", [])}
                assert wanted <= made, (svc["metadata"]["name"], wanted - made)
                checked += 1
    assert checked >= 5  # every function mounts its key from the made Secret
