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
    "orchestrator.cli.trigger",
    "orchestrator.cli.runbooks",
    "orchestrator.cli.incidents",
    "orchestrator.cli.sim",
    "orchestrator.cli.audit",
    "orchestrator.cli.keys",
    "orchestrator.cli.mcp",
    "orchestrator.cli.policy",
)


class _Parser(argparse.ArgumentParser):
    """Options may come anywhere after a command, before or between its positionals:
    `trigger --resolved KubePodCrashLooping ns=shop` and `trigger KubePodCrashLooping
    --annotation a=b ns=shop` both parse (plain argparse ends a `nargs="*"` positional at the
    first option and then refuses what follows). Commands with sub-commands parse as usual."""

    _intermixing = False

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        if self._subparsers is not None or self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    try:
        result: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # `orchestrator incidents list | head`: the reader has gone; end quietly, as `ls`
        # would (exit status 128 + SIGPIPE), with no traceback and no second error at exit.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return result


if __name__ == "__main__":
    sys.exit(main())
