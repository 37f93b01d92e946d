"""The command line starts with only what a command needs (issue #21, point 9).

`auditor --help` is built from dispatch's table; a command imports its own
module alone. The table must say what the modules register, and everyday
commands must not pull in the SSH stack, the emulator or sqlite-utils (whose
imports were most of their start-up time: bench/bench_startup.py times it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from auditor.cli.dispatch import COMMANDS, build_parser
from tests.harness.auditor_cli import AuditorCli
from tests.tui.world import build_world


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: str(a.help) for a in action._choices_actions}
    raise AssertionError("no subcommands")


def test_the_table_says_what_the_modules_register() -> None:
    assert _subcommands(build_parser(full=True)) == {
        name: help_text for name, (_, help_text) in COMMANDS.items()
    }
    for name, (module, _) in COMMANDS.items():
        lone = build_parser(name, full=False)
        for action in lone._actions:
            if isinstance(action, argparse._SubParsersAction):
                assert action.choices[name].get_default("handler") is not None or name in (
                    "ca",
                    "config",
                    "connect",
                ), f"{name} is not registered by {module}"


def _modules_loaded(args: list[str], home: Path) -> set[str]:
    code = (
        "import sys, json, io, contextlib\n"
        "from auditor.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    try:\n        main({args!r})\n    except SystemExit:\n        pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"AUDITOR_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


HEAVY = {"asyncssh", "pyte", "sqlite_utils", "textual", "psycopg", "obstore", "yaml"}


def test_help_and_listings_leave_the_heavy_modules_alone(tmp_path: Path) -> None:
    world = build_world(tmp_path / "home")  # sessions, their commands read; no config file
    AuditorCli(world.data_dir).run("commands")
    for args in (["--help"], ["sessions"], ["commands"], ["failures"]):
        assert _modules_loaded(args, world.data_dir) & HEAVY == set(), args


def test_auditor_ssh_help_is_auditors(cli: AuditorCli) -> None:
    result = cli.run("ssh", "--help")
    assert result.stdout.startswith("usage: auditor ssh")
    assert "every option is ssh's" in result.stdout
