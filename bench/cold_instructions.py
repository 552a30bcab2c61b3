"""Cold start as instruction counts: deterministic, so a change of a few per cent shows on a
shared machine where wall and CPU time do not.

Per function, one process under `valgrind --tool=callgrind` imports functions-framework, loads
the function's `main.py` as its CLI does and answers the function's first request in-process
(Flask's test client, so no socket or timing is involved): the same requests as
`bench/cold_start.py` (`bench.first_requests`). Each count is a ratio to a hello-world function
measured the same way in the same run. `ingest+otel` is ingest with OpenTelemetry export on;
`router+kube` the router with a kubeconfig for the fake API server and a crash-looping pod to
read. `floor` is the least a function can be with the project's fixed packages: hello-world
plus a pydantic model validating the request's JSON and an Ed25519 signature checked
(cryptography), as every function does before its own work; `floor+settings` adds a
pydantic-settings class read from the environment, as every function but ingest has. Bytecode
is compiled by one run outside valgrind first; the hash seed is fixed.
Usage: .venv/bin/python bench/cold_instructions.py [--only ingest,router+kube,...]
(about half a minute per function).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT, accepting_sink, hello_source  # noqa: E402
from bench.first_requests import Request, expect, first_requests  # noqa: E402

CASES = ("floor", "floor+settings", "ingest", "ingest+otel", "router", "router+kube", "agent",
         "executor", "console")
FLOOR = """
import functions_framework
from pydantic import BaseModel, ConfigDict
{settings}

class Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    message: str


@functions_framework.http
def handle(request):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    {read}
    data = request.get_data()
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    key.public_key().verify(key.sign(data), data)
    return Body.model_validate_json(data).message, 200
"""
SETTINGS = """from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOOR_", frozen=True)
    token: str = ""
"""
OK = {"ingest": 200, "router": 200, "agent": 200, "executor": 200, "console": 202}
ANSWER = """
import json, sys
import functions_framework
req = json.loads(open(sys.argv[2]).read())
client = functions_framework.create_app("handle", sys.argv[1]).test_client()
r = client.open(req["path"], method=req["method"], headers=req["headers"],
                data=bytes.fromhex(req["body"]))
sys.exit(0 if r.status_code == req["ok"] else f"HTTP {r.status_code}: {r.get_data()[:300]!r}")
"""


def recorded(request: Request, ok: int) -> dict[str, object]:
    """The HTTP request a bench request makes, recorded without sending it."""
    seen: dict[str, object] = {}

    def record(r: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in r.headers.items() if k not in ("host", "content-length")}
        seen.update(method=r.method, path=r.url.path, headers=headers, body=r.content.hex())
        return httpx.Response(ok)

    with httpx.Client(transport=httpx.MockTransport(record)) as client:
        request(client, "http://function")
    return {**seen, "ok": ok}


@contextmanager
def cases(work: Path, names: list[str]) -> Iterator[dict[str, tuple[Path, dict[str, str], Path]]]:
    """Per case: the function's source, its environment and its recorded first request."""
    with ExitStack() as stack:
        sink = accepting_sink()
        stack.callback(sink.shutdown)
        url = f"http://127.0.0.1:{sink.server_address[1]}"
        env, requests = first_requests(work, url + "/")
        env["PYTHONHASHSEED"] = "0"
        out: dict[str, tuple[Path, dict[str, str], Path]] = {}
        for name in ["hello", *names]:
            base = name.split("+")[0]
            case_env, request, source = dict(env), requests.get(base), ROOT / "functions" / base
            if name == "hello":
                source = hello_source()
                raw: dict[str, object] = {"method": "GET", "path": "/", "headers": {},
                                          "body": "", "ok": 200}
            elif base == "floor":
                source = work / f"{name}.py"
                with_settings = name == "floor+settings"
                source.write_text(FLOOR.format(settings=SETTINGS if with_settings else "",
                                               read="Settings()" if with_settings else ""))
                raw = {"method": "POST", "path": "/", "body": b'{"message": "hi"}'.hex(),
                       "headers": {"Content-Type": "application/json"}, "ok": 200}
            else:
                if name == "ingest+otel":
                    case_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = url
                if name == "router+kube":
                    case_env["KUBECONFIG"], request = _kube(stack, work)
                assert request is not None, name
                source, raw = source / "main.py", recorded(request, OK[base])
            file = work / f"{name}.request.json"
            file.write_text(json.dumps(raw))
            out[name] = (source, case_env, file)
        yield out


def _kube(stack: ExitStack, work: Path) -> tuple[str, Request]:
    from bench.router_bench import crashloop_cluster, incoming
    from orchestrator.provenance import signer_from_pem
    from tests.fakes.kube_api import FakeKubeAPI

    api = stack.enter_context(FakeKubeAPI())
    crashloop_cluster(api)
    ingest = signer_from_pem("ingest", (work / "keys" / "ingest.key").read_text())
    return (api.write_kubeconfig(str(work / "kubeconfig")),
            expect("/", *ingest.encode(incoming()), ok=(200,)))


def instructions(source: Path, env: dict[str, str], request: Path, out: Path) -> int:
    cmd = [sys.executable, "-c", ANSWER, str(source), str(request)]
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)  # bytecode compiled
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    assert found, out
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(CASES))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}; known: {', '.join(CASES)}")
    work = Path(tempfile.mkdtemp(prefix="cold-instructions-"))
    with cases(work, names) as found:
        counts = {name: instructions(*case, work / f"{name}.callgrind")
                  for name, case in found.items()}
    hello = counts["hello"]
    print("instructions of import + first answered request, ratio to hello-world (same run)")
    for name, count in counts.items():
        print(f"{name:<14}{count / 1e6:>8.0f} M{count / hello:>8.2f}×")


if __name__ == "__main__":
    main()
