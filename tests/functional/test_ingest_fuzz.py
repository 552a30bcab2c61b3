"""Property-based fuzzing of ingest through its real server process and the real local broker:
whatever arrives, the answer is a 2xx or a 4xx with a message, never a 5xx or a crash, and a
valid alert sharing a batch with broken ones still reaches the broker.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from orchestrator.local.broker import Broker
from orchestrator.local.triggers import load_eventing
from tests import keys
from tests.conftest import load_event
from tests.fakes.serving import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much])


class Ingest:
    def __init__(self, url: str, broker: Broker, client: httpx.Client) -> None:
        self.url, self.broker, self.client = url, broker, client

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        try:
            r = self.client.post(self.url, content=body, headers=headers)
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            reject()  # a header no HTTP client can send: not an input ingest can ever see
            raise
        assert r.status_code < 500, f"{r.status_code} {r.text[:300]} for {body[:200]!r}"
        if r.status_code >= 400 and r.headers.get("content-type") == "application/json":
            assert r.json()["error"], "a 4xx must say what was wrong"
        elif r.status_code >= 400:
            # Header bytes HTTP forbids (control characters) are refused by the HTTP server
            # itself before ingest runs; that too must be a plain 400.
            assert r.status_code == 400, r.text[:200]
        return r


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "eventing").mkdir()
    (folder / "eventing" / "broker.yaml").write_text(
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: incidents}\n")
    broker = Broker(db_path=folder / "q.sqlite3", subscribers={},
                    config=load_eventing(folder / "eventing"))
    broker.start()
    port = free_port()
    env = {**os.environ, "INGEST_TOKEN": TOKEN, "INGEST_BROKER_URL": broker.url + "/",
           "INGEST_MAX_BODY_BYTES": "65536", **keys.env("ingest")}
    log = (folder / "ingest.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "functions_framework", "--target", "handle", "--source",
         str(ROOT / "functions/ingest/main.py"), "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=log)
    client = httpx.Client(timeout=10, trust_env=False)
    try:
        def answering() -> bool:
            assert proc.poll() is None, "ingest did not start"
            try:
                client.get(f"http://127.0.0.1:{port}/healthz")
            except httpx.TransportError:
                return False
            return True

        wait_until(answering, timeout=30, what="ingest to answer")
        yield Ingest(f"http://127.0.0.1:{port}/", broker, client)
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)
        log.close()
        broker.close()


PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                  max_size=4),
    max_leaves=20,
)
ALERT_FIELDS = ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                "fingerprint"]
GROUP_FIELDS = ["version", "alerts", "status", "receiver", "groupLabels", "commonLabels",
                "commonAnnotations", "externalURL", "groupKey", "truncatedAlerts"]


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes(ingest: Ingest, body: bytes) -> None:
    ingest.post(body, {**AUTH, "content-type": "application/json"})


@FUZZ
@given(doc=json_values)
def test_random_json(ingest: Ingest, doc: Any) -> None:
    ingest.post(json.dumps(doc).encode(), {**AUTH, "content-type": "application/json"})


@FUZZ
@given(field=st.sampled_from(GROUP_FIELDS), value=json_values)
def test_broken_group_field(ingest: Ingest, field: str, value: Any) -> None:
    doc = load_event("alertmanager_crashloop")
    doc[field] = value
    ingest.post(json.dumps(doc).encode(), {**AUTH, "content-type": "application/json"})


@FUZZ
@given(field=st.sampled_from(ALERT_FIELDS), value=json_values, n=st.integers(0, 9999))
def test_a_broken_alert_does_not_sink_the_good_one(
    ingest: Ingest, field: str, value: Any, n: int
) -> None:
    doc = load_event("alertmanager_crashloop")
    good = doc["alerts"][0]
    good["fingerprint"] = f"{n:016x}"
    good["labels"]["pod"] = f"checkout-{n}"
    bad = copy.deepcopy(good)
    bad["fingerprint"] = f"{n + 10**6:016x}"
    bad[field] = value
    doc["alerts"] = [bad, good]
    r = ingest.post(json.dumps(doc).encode(), {**AUTH, "content-type": "application/json"})
    assert r.status_code in (200, 207), r.text
    expected = [k for k in r.json()["incidents"] if good["fingerprint"] in k]
    assert expected, "the good alert was not accepted"
    assert ingest.broker.events(expected[0]), "the good alert never reached the broker"


@FUZZ
@given(auth=st.text(PRINTABLE | st.sampled_from("\t\x7f\xe9"), max_size=60).filter(lambda t: t != f"Bearer {TOKEN}"))
def test_any_other_credential_is_refused(ingest: Ingest, auth: str) -> None:
    body = json.dumps(load_event("alertmanager_crashloop")).encode()
    headers = {"Authorization": auth, "content-type": "application/json"}
    r = ingest.post(body, headers)
    # 401 from ingest; 400 from the HTTP server for header bytes HTTP forbids. Never accepted.
    assert r.status_code == 401 or (r.status_code == 400 and
                                    r.headers.get("content-type") != "application/json")


@FUZZ
@given(ce_type=st.text(PRINTABLE, min_size=1, max_size=30), data=json_values,
       extra=st.dictionaries(st.sampled_from(["ce-id", "ce-source", "ce-specversion",
                                              "ce-time", "ce-subject"]),
                             st.text(PRINTABLE, max_size=20), max_size=3))
def test_random_cloudevents(ingest: Ingest, ce_type: str, data: Any, extra: dict[str, str]) -> None:
    headers = {"ce-specversion": "1.0", "ce-type": ce_type, "ce-source": "/fuzz", "ce-id": "1",
               "content-type": "application/json", **extra}
    r = ingest.post(json.dumps(data).encode(), headers)
    assert r.status_code in (400, 401, 200), r.text


@FUZZ
@given(depth=st.integers(401, 10_000), opener=st.sampled_from(["[", '{"a":']),
       manual=st.booleans(), authorized=st.booleans())
def test_deep_json_is_refused_never_parsed(ingest: Ingest, depth: int, opener: str,
                                           manual: bool, authorized: bool) -> None:
    """Nesting past 400 levels: 401 without the token (checked first), else 400; before, deep
    enough JSON raised RecursionError, a 500 that Alertmanager retries forever."""
    closer = "]" if opener == "[" else "}"
    body = (opener * depth + "1" + closer * depth).encode()  # under the fixture's 64 KiB
    headers = {"content-type": "application/json", **(AUTH if authorized else {})}
    if manual:
        headers |= {"ce-specversion": "1.0", "ce-type": "incident.alert.manual",
                    "ce-source": "/fuzz", "ce-id": "deep"}
    r = ingest.post(body, headers)
    # A header-less manual trigger can only carry its token in the data, so it is decoded
    # (depth-checked, 400) before there is a token to check.
    assert r.status_code == (400 if authorized or manual else 401), r.text
