"""The headless core runs without Textual: CLI commands start fast, daemons stay lean."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "auditor.authority.ca",
    "auditor.authority.agent",
    "auditor.config",
    "auditor.recording",
    "auditor.index",
    "auditor.proxy",
    "auditor.replay",
    "auditor.cli",
]


def test_core_and_cli_do_not_load_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {CORE!r}: importlib.import_module(m)\n"
        "from auditor.cli import build_parser\n"
        "build_parser()\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', "
        "'auditor.tui')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
