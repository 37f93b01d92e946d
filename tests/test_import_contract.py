"""Layering contracts: the headless core runs without Textual (CLI commands start fast,
daemons stay lean), and only the index speaks SQL."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import auditor

CORE = [
    "auditor.authority.ca",
    "auditor.authority.agent",
    "auditor.config",
    "auditor.recording",
    "auditor.index",
    "auditor.upkeep.text_extraction",
    "auditor.upkeep.command_extraction",
    "auditor.upkeep.worker_process",
    "auditor.upkeep.retention",
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


# What SQL looks like in Python source: a DB-API call, or a statement's keywords.
SQL = re.compile(
    r"\.execute(many|script)?\(|\bSELECT\b.+\bFROM\b|\bINSERT\s+(OR\s+\w+\s+)?INTO\b"
    r"|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b|\bCREATE\s+(TABLE|INDEX|VIRTUAL)\b"
    r"|\bALTER\s+TABLE\b|\bPRAGMA\b|\.db\["
)


def test_only_the_index_writes_sql() -> None:
    """A second index engine is a second implementation of one interface, not a hunt
    through the tree: no module outside ``auditor/index`` speaks SQL."""
    package = Path(auditor.__file__).parent
    found = [
        f"{path.relative_to(package.parent)}:{n}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if package / "index" not in path.parents
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SQL.search(line)
    ]
    assert found == []
