"""Commands of the embedded default: `up`, `replay`, `trigger`, `deadletters`, and `sweep`
(also what the Helm chart's CronJob runs against the deployed console)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    up = sub.add_parser("up", help="run the broker and the five functions on this machine")
    _state_args(up)
    up.add_argument("--port", type=int, default=8080, help="ingest (webhook) port")
    up.add_argument("--console-port", type=int, default=8090)
    up.add_argument("--enforce", action="store_true",
                    help="let the executor act on a real cluster (default: dry-run)")
    up.add_argument("--kubeconfig", type=Path, help="cluster to work on (default: auto)")
    up.add_argument("--cluster", help="this cluster's name, as alerts' `cluster` label says it")
    up.add_argument("--sweep-minutes", type=float, default=5.0)
    up.set_defaults(run=_up)

    rp = sub.add_parser("replay", help="push recorded Alertmanager payloads through the loop")
    rp.add_argument("files", nargs="+", type=Path)
    _state_args(rp)
    rp.add_argument("--json", action="store_true", help="print one JSON object")
    rp.add_argument("--enforce", action="store_true")
    rp.add_argument("--kubeconfig", type=Path)
    rp.add_argument("--cluster", help="this cluster's name, as alerts' `cluster` label says it")
    rp.add_argument("--chaos", action="store_true",
                    help="deliver every event twice, in shuffled order (at-least-once test mode)")
    rp.add_argument("--timeout", type=float, default=300.0,
                    help="seconds to wait for the loop to go quiet")
    rp.set_defaults(run=_replay)

    tr = sub.add_parser("trigger", help="send a manual alert to ingest")
    tr.add_argument("alertname")
    tr.add_argument("labels", nargs="*", metavar="label=value")
    tr.add_argument("--annotation", action="append", default=[], metavar="key=value")
    tr.add_argument("--resolved", action="store_true")
    tr.add_argument("--url", help="ingest URL (default: the one `up` wrote to the state folder)")
    tr.add_argument("--token", help="bearer token (default: INGEST_TOKEN or the state folder's)")
    _state_args(tr)
    tr.set_defaults(run=_trigger)

    dl = sub.add_parser("deadletters", help="list or re-send dead-lettered events")
    _state_args(dl)
    dl.add_argument("--redeliver", type=int, metavar="ID", help="queue one again")
    dl.add_argument("--json", action="store_true")
    dl.set_defaults(run=_deadletters)

    sw = sub.add_parser("sweep", help="run the console's sweep once: expire stale approvals, "
                        "escalate stuck incidents")
    sw.add_argument("--console", help="console URL (default: the one `up` wrote to the state "
                    "folder)")
    sw.add_argument("--token", help="console API token (default: CONSOLE_API_TOKEN)")
    sw.add_argument("--token-file", type=Path,
                    help="file holding the token, e.g. a mounted Secret (default: "
                    "CONSOLE_API_TOKEN_FILE, then the state folder's)")
    sw.add_argument("--timeout", type=float, default=120.0,
                    help="seconds to wait for the answer, a cold start included")
    _state_args(sw)
    sw.set_defaults(run=_sweep_cmd)


def _state_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", type=Path, help="state folder (default: the per-user data dir)")


def _state(args: argparse.Namespace) -> Path:
    from orchestrator.local.stack import default_state_dir

    return Path(args.state) if args.state else default_state_dir()


def _up(args: argparse.Namespace) -> int:
    from orchestrator import logs
    from orchestrator.local.stack import Stack, StackOptions

    logs.setup("WARNING")
    state = _state(args)
    stack = Stack(StackOptions(state=state, enforce=args.enforce, kubeconfig=args.kubeconfig,
                               cluster_name=args.cluster,
                               ports={"ingest": args.port, "console": args.console_port}))
    stack.start()
    (state / "up.json").write_text(json.dumps({"ingest": stack.ingest_url,
                                               "console": stack.console_url}))
    print(_banner(stack, state, args.enforce), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(args.sweep_minutes * 60):
            _sweep(stack)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping…", file=sys.stderr)
        stack.stop()
        (state / "up.json").unlink(missing_ok=True)
    return 0


def _sweep(stack: Any) -> None:
    ok, text = _post_sweep(stack.console_url, stack.secrets["console_api_token"], timeout=30)
    if not ok:
        print(f"sweep failed: {text}", file=sys.stderr)


def _post_sweep(console: str, token: str, *, timeout: float) -> tuple[bool, str]:
    """POST <console>/sweep: (True, the console's JSON report) or (False, why not)."""
    import httpx

    url = console.rstrip("/") + "/sweep"
    try:
        r = httpx.post(url, timeout=timeout, trust_env=False,
                       headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as e:
        return False, f"console unreachable at {url}: {e}"
    if r.is_success:
        return True, r.text.strip()
    try:
        why = r.json().get("error", r.text)
    except (ValueError, AttributeError):
        why = r.text
    return False, f"refused (HTTP {r.status_code}): {str(why)[:300]}"


def _sweep_cmd(args: argparse.Namespace) -> int:
    from orchestrator.errors import PermanentError

    try:
        token = _console_token(args)
    except PermanentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not token:
        print("no console token: pass --token or --token-file, or set CONSOLE_API_TOKEN or "
              "CONSOLE_API_TOKEN_FILE", file=sys.stderr)
        return 1
    url = args.console or _up_file(args).get("console") or "http://127.0.0.1:8090"
    ok, text = _post_sweep(url, token, timeout=args.timeout)
    print(text, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _console_token(args: argparse.Namespace) -> str | None:
    """Flags first, then the console's own settings (CONSOLE_API_TOKEN[_FILE]), then `up`'s."""
    from orchestrator.settings.common import secret_from

    if args.token or args.token_file:
        return args.token or secret_from(None, args.token_file, name="--token-file")
    from orchestrator.settings.console import ConsoleSettings

    settings = ConsoleSettings()
    token = secret_from(settings.api_token, settings.api_token_file, name="CONSOLE_API_TOKEN")
    if token:
        return token
    # Read, never generated: a fresh token here would only earn a 401.
    path = _state(args) / "secrets.json"
    found = json.loads(path.read_text()).get("console_api_token") if path.exists() else None
    return str(found) if found else None


def _up_file(args: argparse.Namespace) -> dict[str, Any]:
    """What a running `up` wrote to the state folder (its URLs); empty when none runs."""
    path = _state(args) / "up.json"
    found: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return found


def _banner(stack: Any, state: Path, enforce: bool) -> str:
    mode = "ENFORCE: the executor may change the cluster" if enforce else "dry-run"
    return f"""incident-orchestrator is up ({mode}); state in {state}
  webhook:  {stack.ingest_url}   (bearer token in {state / 'secrets.json'}: ingest_token)
  console:  {stack.console_url}/   (log in with approver_token from {state / 'secrets.json'})
  broker:   {stack.broker.url}

Alertmanager receiver to paste (alertmanager.yml):
  receivers:
    - name: incident-orchestrator
      webhook_configs:
        - url: {stack.ingest_url}
          send_resolved: true
          http_config:
            authorization:
              type: Bearer
              credentials: <ingest_token from {state / 'secrets.json'}>

Ctrl-C stops everything."""


def _replay(args: argparse.Namespace) -> int:
    from orchestrator import logs
    from orchestrator.local.replay import load_payloads, push, render, settle, timelines
    from orchestrator.local.stack import Stack, StackOptions

    logs.setup("WARNING")
    payloads = load_payloads(list(args.files))
    options = StackOptions(state=_state(args), enforce=args.enforce, kubeconfig=args.kubeconfig,
                           cluster_name=args.cluster, chaos=args.chaos)
    with Stack(options) as stack:
        assert stack.broker is not None
        since = max((e.seq for e in stack.broker.events()), default=0)
        keys = push(stack, payloads)
        quiet = settle(stack, args.timeout)
        incidents = timelines(stack, keys, since_seq=since)
    if args.json:
        print(json.dumps({"incidents": [i.as_json() for i in incidents], "quiet": quiet}))
    else:
        print(render(incidents))
        if not quiet:
            print(f"warning: the loop was still busy after {args.timeout:.0f} s", file=sys.stderr)
    return 0 if quiet else 1


def _trigger(args: argparse.Namespace) -> int:
    import os
    import uuid

    import httpx

    from orchestrator.local.stack import load_secrets

    state = _state(args)
    up = json.loads((state / "up.json").read_text()) if (state / "up.json").exists() else {}
    url = args.url or up.get("ingest") or "http://127.0.0.1:8080/"
    token = args.token or os.environ.get("INGEST_TOKEN") or load_secrets(state)["ingest_token"]
    labels = dict(_pairs(args.labels))
    labels["alertname"] = args.alertname
    data = {"labels": labels, "annotations": dict(_pairs(args.annotation)),
            "status": "resolved" if args.resolved else "firing"}
    headers = {"ce-specversion": "1.0", "ce-type": "incident.alert.manual",
               "ce-source": "/orchestrator/cli", "ce-id": str(uuid.uuid4()),
               "content-type": "application/json", "Authorization": f"Bearer {token}"}
    r = httpx.post(url, content=json.dumps(data), headers=headers, timeout=30, trust_env=False)
    print(r.text)
    return 0 if r.status_code < 300 else 1


def _pairs(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected key=value, got {item!r}")
        out.append((key, value))
    return out


def _deadletters(args: argparse.Namespace) -> int:
    from orchestrator.local.broker import Broker
    from orchestrator.local.stack import FUNCTIONS

    # An unstarted Broker on the same SQLite file: it only touches the queue. A running `up`
    # (another process) picks a re-queued delivery up on its next poll of the file.
    broker = Broker(db_path=_state(args) / "broker.sqlite3",
                    subscribers={name: "http://unused.invalid" for name in FUNCTIONS})
    try:
        if args.redeliver is not None:
            new_id = broker.redeliver_deadletter(args.redeliver)
            print(f"dead letter {args.redeliver} queued again as delivery {new_id}")
            return 0
        rows = broker.list_deadletters()
    finally:
        broker.close()
    if args.json:
        print(json.dumps([_dl_json(d) for d in rows]))
    else:
        for d in rows:
            print(f"{d.id:>5}  {d.trigger:<20} {d.code or '-':>4}  "
                  f"{d.event.attributes.get('type', '?'):<28} {d.reason[:70]}")
        if not rows:
            print("no dead letters")
    return 0


def _dl_json(d: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        k: v for k, v in vars(d).items() if isinstance(v, str | int | float | None)
    }
    row["event"] = {"attributes": d.event.attributes, "data": d.event.data}
    return row
