"""The embedded default: the local broker plus the five functions, each its own
functions-framework process on its own port, as Knative would run them.

`orchestrator up` keeps a Stack running; `orchestrator replay` starts one, pushes payloads
through it and stops it. State (the broker's queue, the knowledge base, the audit log, generated
secrets, the functions' key pairs) lives in one folder so a restart picks up where the last run
stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orchestrator.local.broker import Broker
from orchestrator.local.keyring import ensure_keyring, key_env
from orchestrator.resources import functions_dir, runbooks_dir

log = logging.getLogger(__name__)

FUNCTIONS = ("ingest", "router", "agent", "executor", "console")
_SECRETS = ("ingest_token", "console_api_token", "approver_token")
"""`approver_token` is the local user's personal token: `orchestrator approve` decides with it."""


@dataclass
class StackOptions:
    state: Path
    enforce: bool = False
    kubeconfig: Path | None = None
    """The cluster to work on, only when named: None runs without a cluster (context from the
    alerts' labels), never falling back to `KUBECONFIG` or `~/.kube/config` by itself."""
    chaos: bool = False
    seed: int = 0
    time_scale: float = 1.0
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    """Fixed ports per name (`broker` and the functions); anything missing gets a free port."""
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    """Extra environment per function (e.g. a Gemini key and base URL)."""
    ready_timeout: float = 60.0
    cluster_name: str | None = None
    """This cluster's name: alerts whose `cluster` label differs are refused by the executor."""
    policy_file: Path | None = None
    """The executor's policy; default: `<state>/policy.yaml`, written once (dry-run, the local
    user as the only approver) and then left to the operator to edit."""


def load_secrets(state: Path) -> dict[str, str]:
    """Generated once per state folder (file mode 0600) and reused, so restarts keep tokens."""
    path = state / "secrets.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in _SECRETS if name not in known]
    if missing:
        for name in missing:
            known[name] = secrets.token_urlsafe(32)
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(known, f)
    return known


DEFAULT_POLICY = """\
# The executor's policy for this machine's `orchestrator up` / `replay` (edit freely).
# `--enforce` sets the mode to enforce for one run; otherwise nothing is ever written.
mode: dry-run
namespaces:
  deny: [kube-system, kube-public, kube-node-lease]
approvers: ["{user}"]
"""


def local_user() -> str:
    """Who approves on this machine: the login name (`orchestrator approve --as` overrides)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Signal a function's process group (its session, see `_spawn`); gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Stack:
    """Broker + five function processes. `start()`, use `ingest_url`/`console_url`, `stop()`."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.state = options.state
        self.state.mkdir(parents=True, exist_ok=True)
        self.secrets = load_secrets(self.state)
        self.keys = self.state / "keys"
        ensure_keyring(self.keys)
        host = options.host
        self.ports = {name: options.ports.get(name) or _free_port(host)
                      for name in ("broker", *FUNCTIONS)}
        self.urls = {name: f"http://{host}:{self.ports[name]}" for name in FUNCTIONS}
        self.broker: Broker | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    @property
    def ingest_url(self) -> str:
        return self.urls["ingest"] + "/"

    @property
    def console_url(self) -> str:
        return self.urls["console"]

    def env_for(self, name: str) -> dict[str, str]:
        """The environment one function process gets: its settings, by their env names."""
        s, state = self.secrets, self.state
        broker_url = self.broker.url if self.broker else ""
        audit = str(state / "audit")
        common = {
            "KB_QDRANT_PATH": str(state / "qdrant"),
            "KB_RUNBOOKS_DIR": str(runbooks_dir()),
            "PYTHONUNBUFFERED": "1",
        }
        executor = {
            "EXECUTOR_MODE": "enforce" if self.options.enforce else "dry-run",
            "EXECUTOR_POLICY_FILE": str(self.policy_file()),
            "EXECUTOR_BUDGET_NAMESPACE": "default",
            "EXECUTOR_MEMORY_DIR": audit,
        }
        if self.options.cluster_name:
            executor["EXECUTOR_CLUSTER_NAME"] = self.options.cluster_name
        # Router and executor reach a cluster only through a named kubeconfig: "" is "none",
        # and the in-cluster path is off (`up` in a Pod still means this machine's stack).
        kubeconfig = "" if self.options.kubeconfig is None else str(self.options.kubeconfig)
        executor["EXECUTOR_KUBECONFIG"] = kubeconfig
        executor["EXECUTOR_IN_CLUSTER"] = "false"
        per: dict[str, dict[str, str]] = {
            "ingest": {"INGEST_TOKEN": s["ingest_token"], "INGEST_BROKER_URL": broker_url},
            "router": {"ROUTER_KUBECONFIG": kubeconfig, "ROUTER_IN_CLUSTER": "false"},
            "agent": {"AGENT_AUDIT_DIR": audit},
            "executor": executor,
            "console": {
                "CONSOLE_AUDIT_DIR": audit,
                "CONSOLE_API_TOKEN": s["console_api_token"],
                "CONSOLE_APPROVERS": local_user(),
                "CONSOLE_APPROVER_TOKENS": json.dumps({s["approver_token"]: local_user()}),
                "CONSOLE_PUBLIC_URL": self.urls["console"],
                "CONSOLE_BROKER_URL": broker_url,
                "K_SINK": broker_url,
            },
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(
            ("INGEST_", "ROUTER_", "AGENT_", "EXECUTOR_", "CONSOLE_", "KB_", "K_SINK",
             "KUBECONFIG", "KUBERNETES_SERVICE_"))}
        env.update(common)
        env.update(per[name])
        if self.options.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.options.kubeconfig)
        env.update(self.options.env.get(name, {}))
        # Last: the stack's own keys, whatever the caller passed through (`eval` hands the
        # agent the shell's AGENT_* settings, and a shell may hold another keyring's paths).
        env.update(key_env(self.keys, name))
        return env

    def policy_file(self) -> Path:
        if self.options.policy_file is not None:
            return self.options.policy_file
        path = self.state / "policy.yaml"
        if not path.exists():
            path.write_text(DEFAULT_POLICY.format(user=local_user()))
        return path

    def start(self) -> None:
        self._index_runbooks()
        self.broker = Broker(
            db_path=self.state / "broker.sqlite3",
            subscribers=self.urls,
            host=self.options.host,
            port=self.ports["broker"],
            chaos=self.options.chaos,
            seed=self.options.seed,
            time_scale=self.options.time_scale,
        )
        # Whatever interrupts the start (a signal, a function that will not come up) stops
        # what already runs: half a stack must not outlive its command.
        try:
            self.broker.start()
            (self.state / "logs").mkdir(exist_ok=True)
            for name in FUNCTIONS:
                self._spawn(name)
            self._wait_ready(FUNCTIONS)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str) -> None:
        out = (self.state / "logs" / f"{name}.log").open("ab")
        self._logs.append(out)
        cmd = [sys.executable, "-m", "functions_framework", "--target", "handle",
               "--source", str(functions_dir() / name / "main.py"), "--host", self.options.host,
               "--port", str(self.ports[name])]
        # Its own process group: gunicorn serves from a forked worker, and `kill` must take
        # both down, as losing a Pod would. It also keeps a terminal's Ctrl-C away from the
        # functions, so `stop()` can close the broker before them.
        self._procs[name] = subprocess.Popen(cmd, env=self.env_for(name), stdout=out,
                                             stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, name: str) -> None:
        """SIGKILL one function (its gunicorn master and worker), as a lost Pod or the OOM
        killer would: requests it was serving are cut, and the broker sees failed deliveries
        until `restart(name)`."""
        proc = self._procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # The worker may outlive the master by a moment, holding the port and its files.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        log.warning("killed %s (pid %d)", name, proc.pid)

    def restart(self, name: str) -> None:
        """Start one function process again, on its port, with `env_for(name)` as it is now
        (so a test may change `options.env` first), and wait until it listens."""
        old = self._procs.get(name)
        if old is not None and old.poll() is None:
            raise RuntimeError(f"{name} is still running; kill() it first")
        self._spawn(name)
        self._wait_ready((name,))

    def _index_runbooks(self) -> None:
        """Hydrate the knowledge base before the agent (the store's only client) starts."""
        import importlib.util

        if importlib.util.find_spec("orchestrator.cli.runbooks") is None:
            log.warning("no knowledge base in this build: the agent will find no runbook")
            return
        cmd = [sys.executable, "-m", "orchestrator.cli", "runbooks", "index",
               "--source", str(runbooks_dir()), "--store", str(self.state / "qdrant")]
        env = {**os.environ, **self.options.env.get("agent", {})}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"indexing the runbooks failed: {done.stderr.strip()[-800:]}")

    def _wait_ready(self, names: tuple[str, ...]) -> None:
        deadline = time.monotonic() + self.options.ready_timeout
        pending = set(names)
        while pending:
            for name in sorted(pending):
                proc = self._procs[name]
                if proc.poll() is not None:
                    tail = (self.state / "logs" / f"{name}.log").read_text(errors="replace")
                    raise RuntimeError(f"{name} exited with {proc.returncode}: {tail[-800:]}")
                try:
                    socket.create_connection((self.options.host, self.ports[name]), 0.2).close()
                    pending.discard(name)
                except OSError:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"functions not ready in time: {sorted(pending)}")
            if pending:
                time.sleep(0.05)

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self._procs.items()}

    def stop(self) -> None:
        """Stop the broker, then every function's whole process group (gunicorn master and
        workers): nothing is left holding a port, whatever state a function was in."""
        # The broker first: its in-flight deliveries finish against functions still running.
        if self.broker is not None:
            self.broker.close()
            self.broker = None
        for proc in self._procs.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        for name, proc in self._procs.items():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in 10 s; killing it", name)
            # The master is gone, but a worker still busy (a verification watch) may not be:
            # SIGKILL whatever is left of the group.
            _signal_group(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self._procs.clear()
        for f in self._logs:
            f.close()
        self._logs.clear()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
