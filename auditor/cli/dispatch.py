"""Every command but ``connect``: the parser and the dispatch (DESIGN §2).

Each command group lives in its own module with a ``register(subparsers)``
function; commands are thin over library calls. A user's mistake ends in one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from auditor import __version__
from auditor.errors import AuditorError, UsageError

# Command groups, in the order `auditor --help` lists them.
COMMAND_MODULES = (
    "auditor.cli.app",
    "auditor.cli.proxy",
    "auditor.cli.replay",
    "auditor.cli.store",
    "auditor.cli.commands",
    "auditor.cli.terminate",
    "auditor.cli.prune",
    "auditor.cli.migrate",
    "auditor.cli.authority",
    "auditor.cli.ssh",
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line rather than usage text plus an error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> ArgumentParser:
    from auditor.cli.context import common_options

    parser = ArgumentParser(
        prog="auditor",
        description="SSH session auditor: recording proxy, certificates, index, replay, TUI.",
        epilog="With no command, auditor opens the full-screen app and runs the proxy in it.",
        parents=[common_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command group not built yet
                continue
            raise
        module.register(sub)
        if hasattr(module, "default_handler"):  # what `auditor` alone runs (the app)
            parser.set_defaults(default_handler=module.default_handler)
    return parser


def _ssh_command_at(args: list[str]) -> int | None:
    """Where ``ssh`` stands if it is the command (only global options before it)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "ssh":
            return i
        if arg in ("--data-dir", "--config"):
            i += 2
        elif arg.startswith(("--data-dir=", "--config=")):
            i += 1
        else:
            return None
    return None


def run_command(args_list: list[str]) -> int:
    from auditor.cli.context import Context

    parser = build_parser()
    try:
        ssh_at = _ssh_command_at(args_list)
        if ssh_at is not None:
            # Everything after `auditor ssh` is ssh's, options included.
            args = parser.parse_args(args_list[: ssh_at + 1])
            args.ssh_args = args_list[ssh_at + 1 :]
        else:
            args = parser.parse_args(args_list)
        handler = getattr(args, "handler", None)
        if handler is None:
            handler = getattr(args, "default_handler", None)
        if handler is None:
            parser.print_help()
            return 0
        result = handler(Context(args))
        return int(result or 0)
    except AuditorError as exc:
        print(f"auditor: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `auditor sessions | head`: the reader left; nothing to report.
        sys.stderr.close()
        return 0
