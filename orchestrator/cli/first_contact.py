"""What `orchestrator up` tells a newcomer: which cluster it talks to (only one named with
--kubeconfig, never ~/.kube/config silently), the paste-ready Alertmanager route and receiver,
how to log in, and one line per incident as it changes state."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def cluster_line(kubeconfig: Path | None, enforce: bool) -> str:
    """What the functions will talk to. A real cluster is used only when named (--kubeconfig):
    never `KUBECONFIG` or `~/.kube/config` silently; then its context and server are shown."""
    if kubeconfig is None:
        return ("cluster:  none (context from the alerts' labels; name one with --kubeconfig "
                "FILE)")
    context, server = kubeconfig_target(kubeconfig)
    mode = ("ENFORCE: the executor may change this cluster" if enforce
            else "executor in dry-run: nothing is changed")
    return f"cluster:  context {context} at {server} ({mode})"


def kubeconfig_target(path: Path) -> tuple[str, str]:
    """(current context, its cluster's server) of a kubeconfig, read as plain YAML; a file
    that cannot say is the operator's error, reported before anything starts."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text()) or {}
        name = str(doc["current-context"])
        ctx = next(c["context"] for c in doc["contexts"] if c["name"] == name)
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
        return name, str(cluster["server"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration) as e:
        raise SystemExit(f"--kubeconfig {path}: cannot read its current context and server "
                         f"({type(e).__name__}: {e})") from e


def write_token_file(path: Path, token: str) -> None:
    """The ingest token alone in a 0600 file, for Alertmanager's `credentials_file`: the
    receiver below can then be pasted as is, and the token is never printed."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)


def banner(stack: Any, state: Path, enforce: bool) -> str:
    from orchestrator.local.stack import local_user

    mode = "ENFORCE: the executor may change the cluster" if enforce else "dry-run"
    state_arg = f" --state {state}"
    return f"""incident-orchestrator is up ({mode}); state in {state}
  {cluster_line(stack.options.kubeconfig, enforce)}
  webhook:  {stack.ingest_url}
  console:  {stack.console_url}/  (log in as {local_user()} with your personal token:
            `orchestrator token approver{state_arg}` prints it)
  broker:   {stack.broker.url}

Paste into alertmanager.yml (Alertmanager on this machine reads the token from the file;
`orchestrator token ingest{state_arg}` prints it for one elsewhere):

route:
  receiver: incident-orchestrator
  group_by: [alertname, namespace]
receivers:
  - name: incident-orchestrator
    webhook_configs:
      - url: {stack.ingest_url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: {state / 'ingest-token'}

Or try it: orchestrator trigger KubePodCrashLooping namespace=shop pod=api-1{state_arg}
Incidents appear below as they change state. Ctrl-C stops everything."""


class IncidentLines:
    """One line per incident each time its status changes, read from the audit log's index
    (what the console's list page shows)."""

    def __init__(self, audit: Path) -> None:
        self.audit = audit
        self.seen: dict[str, str] = {}

    def changes(self) -> list[str]:
        from orchestrator.adapters.object_store import LocalDirStore
        from orchestrator.console import index
        from orchestrator.errors import OrchestratorError

        if not self.audit.is_dir():
            return []
        try:
            found = index.summaries(LocalDirStore(self.audit), limit=200)
        except (OrchestratorError, OSError, ValueError):
            return []  # an index being rewritten: the next poll reads it
        lines = []
        for s in reversed(found):  # oldest first
            state = f"{s.status}: {s.reason}" if s.reason else s.status
            if self.seen.get(s.incident_key) == state:
                continue
            self.seen[s.incident_key] = state
            when = time.strftime("%H:%M:%S")
            lines.append(f"{when}  {s.status:<17} {s.alertname} {s.target or '-'}  "
                         f"{s.incident_key}" + (f"  ({s.reason[:100]})" if s.reason else ""))
        return lines
