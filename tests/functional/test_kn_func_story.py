"""The `kn func` story of docs/deploy.md, checked against the code it describes.

The documented `kn func invoke` command is parsed as a shell would (its `$TOKEN` filled in) and
the CloudEvent it sends (binary mode, as func's sdk-go client does) goes through the real
ingest app; every func.yaml keeps an accidental `kn func deploy` from reaching the cluster.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
import yaml
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

import orchestrator.ingest.service as service
from orchestrator.events import AlertReceived
from tests.fakes.sink import Sink

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "kn-func-doc-token"
FUNCTIONS = ("ingest", "router", "agent", "executor", "console")


def documented_invoke() -> list[str]:
    """The `kn func invoke` command of docs/deploy.md's "kn func" section, as argv."""
    doc = (ROOT / "docs" / "deploy.md").read_text()
    section = doc[doc.index("## kn func"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    lines = block.group(1).replace("\\\n", " ").splitlines()
    (command,) = [line for line in lines if line.startswith("kn func invoke")]
    return shlex.split(command.replace("$TOKEN", TOKEN).replace('"$URL"', "URL"))


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.fixture
def ingest(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("INGEST_TOKEN", TOKEN)
    monkeypatch.setenv("K_SINK", sink.url)
    service.instance.reset()
    app = functions_framework.create_app(
        target="handle", source=str(ROOT / "functions/ingest/main.py"), signature_type="http")
    yield app.test_client()
    service.instance.reset()


def test_the_documented_invoke_targets_ingest_with_the_token_in_the_data(
        ingest: Any, sink: Sink) -> None:
    argv = documented_invoke()
    assert _flag(argv, "-p") == "functions/ingest"
    assert _flag(argv, "--target") == "URL", "a workstation needs ingest's reachable URL"
    assert _flag(argv, "--format") == "cloudevent"
    data = json.loads(_flag(argv, "--data"))
    assert data["token"] == TOKEN
    event = CloudEvent({"type": _flag(argv, "--type"), "source": _flag(argv, "--source"),
                        "id": "kn-func-1"}, data)
    headers, body = to_binary(event)
    r = ingest.post("/", data=body, headers=headers)
    assert r.status_code == 200, r.data
    (got,) = sink.wait_for(1)
    sent = AlertReceived.model_validate(got.json())
    assert sent.manual and sent.test
    assert sent.alert.labels["alertname"] == "KubePodCrashLooping"
    assert TOKEN.encode() not in got.body


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_func_yaml_stops_an_accidental_deploy_at_the_build(fn: str) -> None:
    text = (ROOT / "functions" / fn / "func.yaml").read_text()
    doc = yaml.safe_load(text)
    # The host builder only builds func's own Python layout (func.py with new()); these folders
    # hold functions-framework sources, so `func build`/`deploy` fails before any deploy.
    assert doc["build"]["builder"] == "host"
    assert not (ROOT / "functions" / fn / "func.py").exists()
    assert "Do not `kn func deploy`" in text
