"""What the CLI's commands read from the state folder of `orchestrator up`: where it is, which
console `up` started, and the personal token `up` made for this machine's user.

One place for it, so `approve`/`reject`, `mcp`, `incidents`, `trigger` and `up` itself agree on
the folder and on who a command acts as."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_CONSOLE = "http://127.0.0.1:8090"


def state_dir(args: argparse.Namespace) -> Path:
    """`--state`, else the per-user data folder `up` keeps its state in."""
    from orchestrator.resources import data_dir

    return Path(args.state) if args.state else data_dir()


def console_access(args: argparse.Namespace) -> tuple[str, str]:
    """The console's URL (`--console`, else the one `up` wrote) and the person's token; without
    a token, says where to get one and exits 2."""
    state = state_dir(args)
    up = state / "up.json"
    url = args.console or (json.loads(up.read_text()).get("console") if up.exists() else None) \
        or DEFAULT_CONSOLE
    token = personal_token(args, state)
    if not token:
        print("no personal token: pass --token-file (or --token); `orchestrator up` writes one "
              "for this machine's user in its state folder", file=sys.stderr)
        raise SystemExit(2)
    return str(url).rstrip("/"), token


def personal_token(args: argparse.Namespace, state: Path) -> str | None:
    """The person's token: given, or from a file, or the one `up` made for the local user.
    Never CONSOLE_API_TOKEN: that is the service token, which cannot decide."""
    from orchestrator.errors import PermanentError
    from orchestrator.settings.common import read_secret_file

    if args.token:
        return str(args.token)
    if args.token_file:
        try:
            return read_secret_file(args.token_file, name="--token-file")
        except PermanentError as e:
            raise SystemExit(str(e)) from None
    path = state / "secrets.json"
    if path.exists():
        found = json.loads(path.read_text()).get("approver_token")
        return str(found) if found else None
    return None
