"""Cold start of the agent next to a hello-world functions-framework function, in the same run.

Seconds from spawning `functions-framework --target handle --source functions/agent/main.py` to
the first answered `incident.context.enriched` (HTTP 200 with an `incident.plan.proposed`),
against a Qdrant local store indexed from the packaged runbooks; hello-world is timed to its
first 200. Three agent variants: no API key (the embedded default: offline planner, google-genai
never imported), a key pointing at the in-process fake Gemini (google-genai imported and one
generateContent round trip), and `AGENT_LLM_PROVIDER=openai` with a key pointing at the fake
OpenAI-compatible server (the httpx adapter and one chat/completions round trip). Target: offline
agent ≤ 4× hello-world. The no-exact-match variant runs twice, with and without the offline
semantic retriever (its table is read on that first query), so what the table costs a cold start
is measured in the same run.
Usage: .venv/bin/python bench/agent_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT, first_answer, hello_source, median_of  # noqa: E402
from tests import incidents as inc  # noqa: E402
from tests import keys  # noqa: E402
from tests.fakes.gemini import fake_gemini  # noqa: E402
from tests.fakes.model_script import Reply  # noqa: E402
from tests.fakes.openai_chat import fake_openai  # noqa: E402
from tests.functional.agent_support import build_index  # noqa: E402

AGENT = ROOT / "functions/agent/main.py"
_STRIP = ("AGENT_", "KB_", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")

PROBE = """
import sys, functions_framework
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
import os
from tests import incidents as inc, keys
os.environ.update(keys.env("agent"))
app = functions_framework.create_app(target="handle", source=sys.argv[1], signature_type="http")
h, b = to_binary(CloudEvent({"type": "incident.context.enriched", "source": "/b", "id": "1"},
                            inc.crashloop().model_dump(mode="json")))
assert app.test_client().post("/", headers=keys.seal(h, b), data=b).status_code == 200
print(" ".join(m for m in ("qdrant_client", "google.genai", "openai", "kubernetes", "minio")
               if m in sys.modules) or "none")
"""


def _event(alertname: str | None = None) -> tuple[dict[str, str], bytes]:
    ev = inc.crashloop()
    if alertname:  # a name no runbook lists: only the hybrid search (Qdrant) can find one
        ev = inc.enriched(inc.make_alert(
            {"alertname": alertname, "namespace": "payments", "pod": inc.POD.name,
             "container": "checkout"},
            annotations={"description": "Container checkout is restarting in back-off."}),
            ev.context)
    headers = {"ce-specversion": "1.0", "ce-type": "incident.context.enriched",
               "ce-source": "/orchestrator/router", "ce-id": "bench-1",
               "ce-incidentkey": ev.incident_key, "content-type": "application/json"}
    body = ev.model_dump_json().encode()
    return keys.seal(headers, body), body  # signed as the router: the agent verifies it


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    qdrant = build_index(state / "qdrant")
    base = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP)}
    env = {**base, "KB_QDRANT_PATH": str(qdrant), "AGENT_AUDIT_DIR": str(state / "audit"),
           "PYTHONPATH": str(ROOT), **keys.env("agent")}
    headers, body = _event()
    fuzzy_headers, fuzzy_body = _event("CheckoutContainerRestarting")

    def hello(client: httpx.Client, url: str) -> httpx.Response:
        r = client.get(url + "/")
        r.raise_for_status()
        return r

    def enriched(client: httpx.Client, url: str) -> httpx.Response:
        r = client.post(url + "/", content=body, headers=headers, timeout=60)
        if r.status_code != 200 or r.headers.get("ce-type") != "incident.plan.proposed":
            raise RuntimeError(f"agent answered {r.status_code} {r.headers.get('ce-type')}: "
                               f"{r.text[:300]}")
        return r

    def fuzzy(client: httpx.Client, url: str) -> httpx.Response:
        r = client.post(url + "/", content=fuzzy_body, headers=fuzzy_headers, timeout=60)
        if r.status_code != 200 or not r.headers.get("ce-type", "").startswith("incident."):
            raise RuntimeError(f"agent answered {r.status_code}: {r.text[:300]}")
        return r

    answer = {"hypothesis": "one replica wedged", "confidence": 0.8, "runbook": "k8s_crashloop",
              "chunk": "k8s_crashloop#what-to-do",
              "actions": [{"type": "delete_pod", "target_kind": "Pod",
                           "target_namespace": inc.POD.namespace, "target_name": inc.POD.name,
                           "parameters": [], "reason": "bench"}]}
    with fake_gemini() as fake, fake_openai() as compat:
        fake.responder = lambda _req: Reply.plan(answer)
        compat.responder = lambda _req: Reply.plan(answer)
        keyed = {**env, "AGENT_GEMINI_API_KEY": "bench-key", "AGENT_BASE_URL": fake.url}
        openai = {**env, "AGENT_LLM_PROVIDER": "openai", "AGENT_OPENAI_API_KEY": "bench-key",
                  "AGENT_OPENAI_BASE_URL": compat.url + "/v1"}
        h, h_runs = median_of(args.runs, lambda: first_answer(hello_source(), env, hello))
        a, a_runs = median_of(args.runs, lambda: first_answer(AGENT, env, enriched))
        f, f_runs = median_of(args.runs, lambda: first_answer(AGENT, env, fuzzy))
        # The same, without the offline semantic retriever: what its table costs a cold agent.
        plain = {**env, "KB_SEMANTIC_MODEL": "none"}
        p, p_runs = median_of(args.runs, lambda: first_answer(AGENT, plain, fuzzy))
        g, g_runs = median_of(args.runs, lambda: first_answer(AGENT, keyed, enriched))
        o, o_runs = median_of(args.runs, lambda: first_answer(AGENT, openai, enriched))
        loaded = {}  # probed while the fakes answer, so each variant makes its real round trip
        for name, e in (("offline", env), ("gemini", keyed), ("openai", openai)):
            done = subprocess.run([sys.executable, "-c", PROBE, str(AGENT)], env=e, cwd=ROOT,
                                  capture_output=True, text=True, check=True, timeout=120)
            loaded[name] = done.stdout.strip().splitlines()[-1]
    rows = [("hello-world", h, h_runs, ""), ("agent offline", a, a_runs, loaded["offline"]),
            ("agent offline, no exact match", f, f_runs, "qdrant_client"),
            ("  the same, semantic off", p, p_runs, "qdrant_client"),
            ("agent gemini", g, g_runs, loaded["gemini"]),
            ("agent openai-compatible", o, o_runs, loaded["openai"])]
    print(f"{'function':<31}{'median s':>9}{'ratio':>7}  {'SDKs loaded':<27} runs")
    for name, median, runs, sdks in rows:
        print(f"{name:<31}{median:>9.3f}{median / h:>7.2f}  {sdks or '-':<27} "
              + " ".join(f"{x:.3f}" for x in runs))
    print(json.dumps({"hello_s": round(h, 3), "agent_offline_s": round(a, 3),
                      "agent_offline_no_exact_s": round(f, 3),
                      "agent_offline_no_exact_semantic_off_s": round(p, 3),
                      "semantic_cold_ratio": round(f / p, 2), "agent_gemini_s": round(g, 3),
                      "agent_openai_s": round(o, 3), "openai_ratio": round(o / h, 2),
                      "offline_ratio": round(a / h, 2),
                      "target_ratio": 4.0}))


if __name__ == "__main__":
    main()
