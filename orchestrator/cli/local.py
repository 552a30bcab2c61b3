"""Commands of the embedded default: `up`, `replay`, `deadletters`, and `sweep`
(also what the Helm chart's CronJob runs against the deployed console)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestrator.cli.local_state import state_dir


def register(sub: Any) -> None:
    up = sub.add_parser("up", help="run the broker and the five functions on this machine")
    _state_args(up)
    up.add_argument("--port", type=int, default=8080, help="ingest (webhook) port")
    up.add_argument("--console-port", type=int, default=8090)
    up.add_argument("--enforce", action="store_true",
                    help="let the executor act on a real cluster (default: dry-run)")
    up.add_argument("--kubeconfig", type=Path,
                    help="a real cluster to work on (default: none; never ~/.kube/config)")
    up.add_argument("--cluster", help="this cluster's name, as alerts' `cluster` label says it")
    up.add_argument("--sweep-minutes", type=float, default=5.0)
    up.add_argument("--prometheus", metavar="URL",
                    help="Prometheus the router reads: metric evidence in the context, and "
                    "verification that the alert itself cleared")
    up.add_argument("--alertmanager", metavar="URL",
                    help="Alertmanager the router asks whether an alert is still active")
    up.set_defaults(run=_up)

    rp = sub.add_parser("replay", help="push recorded Alertmanager payloads through the loop")
    rp.add_argument("files", nargs="+", type=Path)
    _state_args(rp)
    rp.add_argument("--json", action="store_true", help="print one JSON object")
    rp.add_argument("--enforce", action="store_true")
    rp.add_argument("--kubeconfig", type=Path,
                    help="a real cluster to work on (default: none; never ~/.kube/config)")
    rp.add_argument("--cluster", help="this cluster's name, as alerts' `cluster` label says it")
    rp.add_argument("--chaos", action="store_true",
                    help="deliver every event twice, in shuffled order (at-least-once test mode)")
    rp.add_argument("--timeout", type=float, default=300.0,
                    help="seconds to wait for the loop to go quiet")
    rp.set_defaults(run=_replay)

    tk = sub.add_parser("token", help="print a token `up` generated (ingest: Alertmanager's "
                        "bearer; approver: yours, for the web login and approve/reject; "
                        "console: the service token, which reads and sweeps but cannot decide)")
    tk.add_argument("which", choices=("ingest", "approver", "console"))
    _state_args(tk)
    tk.set_defaults(run=_token)

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


class Stopped(Exception):
    """A SIGTERM, SIGINT or SIGHUP reached `up`/`replay`: unwind so the stack stops."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn the first SIGTERM/SIGINT/SIGHUP into `Stopped` in the main thread, and ignore the
    ones after it: `Stack.stop()` must run to the end, or the function processes (each in its
    own session, out of reach of the terminal's signals) outlive the command."""
    names = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def handler(signum: int, _frame: object) -> None:
        for s in names:
            signal.signal(s, lambda *_: None)
        raise Stopped(signum)

    previous = {s: signal.signal(s, handler) for s in names}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _up(args: argparse.Namespace) -> int:
    from orchestrator import logs
    from orchestrator.cli import first_contact
    from orchestrator.local.stack import Stack, StackOptions

    logs.setup("WARNING")
    state = state_dir(args)
    # A kubeconfig that cannot say its context and server fails now, before anything starts.
    first_contact.cluster_line(args.kubeconfig, args.enforce)
    stack = Stack(StackOptions(state=state, enforce=args.enforce, kubeconfig=args.kubeconfig,
                               cluster_name=args.cluster,
                               ports={"ingest": args.port, "console": args.console_port},
                               env={"router": router_env(args.prometheus, args.alertmanager)}))
    code = 0
    with _stop_on_signals():
        try:
            stack.start()
            (state / "up.json").write_text(json.dumps({"ingest": stack.ingest_url,
                                                       "console": stack.console_url}))
            first_contact.write_token_file(state / "ingest-token", stack.secrets["ingest_token"])
            print(first_contact.banner(stack, state, args.enforce), flush=True)
            watch = first_contact.IncidentLines(state / "audit")
            next_sweep = time.monotonic() + args.sweep_minutes * 60
            while True:
                time.sleep(1)
                for line in watch.changes():
                    print(line, flush=True)
                if time.monotonic() >= next_sweep:
                    _sweep(stack)
                    next_sweep = time.monotonic() + args.sweep_minutes * 60
        except Stopped as e:
            code = 128 + e.signum
        finally:
            print("stopping…", file=sys.stderr)
            stack.stop()
            (state / "up.json").unlink(missing_ok=True)
    return code


def router_env(prometheus: str | None, alertmanager: str | None) -> dict[str, str]:
    """The router's settings for `--prometheus` / `--alertmanager`."""
    env = {}
    if prometheus:
        env["ROUTER_PROMETHEUS_URL"] = prometheus
    if alertmanager:
        env["ROUTER_ALERTMANAGER_URL"] = alertmanager
    return env


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
    from orchestrator.settings.common import read_secret_file, reveal

    if args.token or args.token_file:
        return args.token or read_secret_file(args.token_file, name="--token-file")
    from orchestrator.settings.console import ConsoleSettings

    settings = ConsoleSettings()
    token = reveal(settings.api_token)
    if token:
        return token
    # Read, never generated: a fresh token here would only earn a 401.
    path = state_dir(args) / "secrets.json"
    found = json.loads(path.read_text()).get("console_api_token") if path.exists() else None
    return str(found) if found else None


def _up_file(args: argparse.Namespace) -> dict[str, Any]:
    """What a running `up` wrote to the state folder (its URLs); empty when none runs."""
    path = state_dir(args) / "up.json"
    found: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return found


def _replay(args: argparse.Namespace) -> int:
    from orchestrator import logs
    from orchestrator.cli import first_contact
    from orchestrator.local.replay import load_payloads, push, render, settle, timelines
    from orchestrator.local.stack import Stack, StackOptions

    logs.setup("WARNING")
    payloads = load_payloads(list(args.files))
    options = StackOptions(state=state_dir(args), enforce=args.enforce, kubeconfig=args.kubeconfig,
                           cluster_name=args.cluster, chaos=args.chaos)
    print(first_contact.cluster_line(args.kubeconfig, args.enforce), file=sys.stderr, flush=True)
    with _stop_on_signals():
        try:
            with Stack(options) as stack:
                assert stack.broker is not None
                since = max((e.seq for e in stack.broker.events()), default=0)
                keys = push(stack, payloads)
                quiet = settle(stack, args.timeout)
                incidents = timelines(stack, keys, since_seq=since)
        except Stopped as e:
            print(f"stopped by {e}: every function process was stopped", file=sys.stderr)
            return 128 + e.signum
    if args.json:
        print(json.dumps({"incidents": [i.as_json() for i in incidents], "quiet": quiet}))
    else:
        print(render(incidents))
        if not quiet:
            print(f"warning: the loop was still busy after {args.timeout:.0f} s", file=sys.stderr)
    return 0 if quiet else 1


def _token(args: argparse.Namespace) -> int:
    path = state_dir(args) / "secrets.json"
    found = json.loads(path.read_text()) if path.exists() else {}
    name = {"ingest": "ingest_token", "approver": "approver_token",
            "console": "console_api_token"}[args.which]
    if name not in found:
        print(f"no {args.which} token in {path}: run `orchestrator up` (or replay) with this "
              "state folder first", file=sys.stderr)
        return 1
    print(found[name])
    return 0


def _deadletters(args: argparse.Namespace) -> int:
    from orchestrator.local.broker import Broker
    from orchestrator.local.stack import FUNCTIONS

    # An unstarted Broker on the same SQLite file: it only touches the queue. A running `up`
    # (another process) picks a re-queued delivery up on its next poll of the file.
    broker = Broker(db_path=state_dir(args) / "broker.sqlite3",
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
