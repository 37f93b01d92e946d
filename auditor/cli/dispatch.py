"""Every command but ``connect``: the parser and the dispatch (DESIGN §2).

Each command group lives in its own module with a ``register(subparsers)``
function; commands are thin over library calls. A user's mistake ends in one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING

from auditor import __version__
from auditor.errors import AuditorError, UsageError
from auditor.textsafe import visible

if TYPE_CHECKING:
    from auditor.cli.context import Context

# Every command: the module that registers it and its one-line help, in the
# order `auditor --help` lists them. `auditor --help` is built from this table
# alone, and a command imports only its own module (whose imports reach the SSH
# stack, the emulator, the index ...): both start in a fraction of the time
# that importing every module took. tests/cli/test_dispatch.py checks the
# table against the modules' own registrations.
COMMANDS: dict[str, tuple[str, str]] = {
    "proxy": ("auditor.cli.proxy", "run the recording proxy in the foreground"),
    "replay": (
        "auditor.cli.replay",
        "play a session in this terminal (or print it); follows live ones",
    ),
    "tail": ("auditor.cli.replay", "follow live sessions' output as it happens"),
    "sessions": ("auditor.cli.store", "list recorded sessions"),
    "failures": ("auditor.cli.store", "list failed connections and their fixes"),
    "export": ("auditor.cli.store", "a session as asciicast, plain text or an HTML page"),
    "import": ("auditor.cli.store", "asciicast v1, v2 or v3 files into the index"),
    "verify": ("auditor.cli.store", "check recordings' hash chains and signed anchors"),
    "commands": (
        "auditor.cli.commands",
        "the commands users ran (newest first); replay one at its moment: `replay ID@T`",
    ),
    "terminate": (
        "auditor.cli.terminate",
        "end a live session on whichever proxy carries it (the user is told why)",
    ),
    "prune": ("auditor.cli.prune", "remove sessions and failures older than the retention policy"),
    "migrate": (
        "auditor.cli.migrate",
        "copy this machine's sessions, failures and recordings into a shared store",
    ),
    "review": (
        "auditor.cli.review",
        "mark a session reviewed (by you, now; with a note and a moment)",
    ),
    "hold": (
        "auditor.cli.review",
        "keep a session past the retention policy until released",
    ),
    "release": ("auditor.cli.review", "end a session's hold: retention applies to it again"),
    "ca": ("auditor.cli.authority", "certificate authorities"),
    "login": ("auditor.cli.authority", "put a user certificate into the running ssh-agent"),
    "config": ("auditor.cli.authority", "client configuration snippets"),
    "access": (
        "auditor.cli.access",
        "what a user may reach as which login, and the role that allows it",
    ),
    "ssh": (
        "auditor.cli.ssh",
        "OpenSSH's ssh through the recording proxy, one hop (like `tsh ssh`)",
    ),
    "connect": (
        "auditor.cli.ssh",
        "the one-hop ProxyCommand: auditor connect --proxy HOST:PORT %%h:%%p",
    ),
}
APP_MODULE = "auditor.cli.open_app"  # what `auditor` alone runs


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line rather than usage text plus an error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser(command: str | None = None, full: bool = True) -> ArgumentParser:
    """The parser; ``full=False`` registers only ``command``'s module for real
    (the others are named, with their help, and parse nothing)."""
    from auditor.cli.context import common_options

    parser = ArgumentParser(
        prog="auditor",
        description="SSH session auditor: recording proxy, certificates, index, replay, TUI.",
        epilog="With no command, auditor opens the full-screen app and runs the proxy in it.",
        parents=[common_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    wanted = {module for module, _ in COMMANDS.values()} if full else set()
    if command in COMMANDS:
        wanted.add(COMMANDS[command][0])
    registered: set[str] = set()
    for name, (module_name, help_text) in COMMANDS.items():
        if name in registered:
            continue
        if module_name in wanted:
            wanted.discard(module_name)
            before = set(sub.choices)
            importlib.import_module(module_name).register(sub)
            registered |= set(sub.choices) - before
        else:
            sub.add_parser(name, help=help_text, add_help=False)
            registered.add(name)
    parser.set_defaults(default_handler=_run_app)
    return parser


def _subparser(parser: ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise LookupError(name)


def _run_app(ctx: Context) -> int:
    module = importlib.import_module(APP_MODULE)
    return int(module.default_handler(ctx) or 0)


def _command_at(args: list[str]) -> int | None:
    """Where the command stands (only global options before it), if there is one."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--data-dir", "--config"):
            i += 2
        elif arg.startswith(("--data-dir=", "--config=")):
            i += 1
        elif arg.startswith("-"):
            return None
        else:
            return i
    return None


def run_command(args_list: list[str]) -> int:
    from auditor.cli.context import Context

    at = _command_at(args_list)
    command = args_list[at] if at is not None else None
    opening = None  # `auditor ID@T`: the app, opening that moment's replay
    if at is not None and command not in COMMANDS and command and "@" in command:
        opening, command = command, None
        args_list = [*args_list[:at], *args_list[at + 1 :]]
    parser = build_parser(command, full=False)
    try:
        if command == "ssh" and at is not None and args_list[at + 1 : at + 2] == ["--help"]:
            # OpenSSH has no --help (it would say `unknown option -- -`): ours.
            _subparser(parser, "ssh").print_help()
            return 0
        if command == "ssh" and at is not None:
            ssh_at = at
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
        args.moment = opening
        result = handler(Context(args))
        return int(result or 0)
    except AuditorError as exc:
        # A message may quote a node's name or a login: never raw controls on the terminal.
        print(f"auditor: {visible(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `auditor sessions | head`: the reader left; nothing to report.
        sys.stderr.close()
        return 0
