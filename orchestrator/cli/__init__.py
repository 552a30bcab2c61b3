"""The `orchestrator` command. Each sub-command group lives in its own module and registers
itself through `register(subparsers)`; imports stay inside the commands so `--help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that contribute sub-commands, in the order `--help` lists them.
_GROUPS = (
    "orchestrator.cli.local",
    "orchestrator.cli.runbooks",
    "orchestrator.cli.incidents",
    "orchestrator.cli.sim",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator", description="Autonomous incident response for Kubernetes."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _GROUPS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
