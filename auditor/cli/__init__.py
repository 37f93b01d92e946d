"""The ``auditor`` command line (DESIGN §2).

Each command group lives in its own module with a ``register(subparsers)``
function; commands are thin over library calls. A user's mistake ends in one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from auditor import __version__
from auditor.cli.context import Context, common_options
from auditor.errors import AuditorError, UsageError

# Command groups, in the order `auditor --help` lists them.
COMMAND_MODULES = (
    "auditor.cli.app",
    "auditor.cli.proxy",
    "auditor.cli.replay",
    "auditor.cli.store",
    "auditor.cli.authority",
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line rather than usage text plus an error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> ArgumentParser:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
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
