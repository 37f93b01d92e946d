"""The real ``asciinema`` CLI (from the venv), run under a pty when it needs one."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ASCIINEMA = Path(sys.executable).with_name("asciinema")


def _env(home: Path) -> dict[str, str]:
    # Its own config dir, so it never reads or writes the user's asciinema settings.
    env = {**os.environ, "HOME": str(home), "ASCIINEMA_CONFIG_HOME": str(home / ".asciinema")}
    env.pop("TMUX", None)
    return env


def _need(tool: Path | str) -> str:
    found = shutil.which(str(tool))
    if found is None:
        pytest.fail(
            f"{tool} is required for this test (pip install asciinema / apt install util-linux)"
        )
    return found


def cat(path: Path, home: Path) -> bytes:
    """What ``asciinema cat FILE`` prints."""
    proc = subprocess.run(
        [_need(ASCIINEMA), "cat", str(path)],
        capture_output=True,
        env=_env(home),
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def in_pty(command: str, home: Path, cols: int = 100, rows: int = 30) -> bytes:
    """Run ``command`` inside a pty of the given size (``script``), return what it showed."""
    inner = f"stty cols {cols} rows {rows}; {command}"
    proc = subprocess.run(
        [_need("script"), "-qec", inner, "/dev/null"],
        capture_output=True,
        env=_env(home),
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr).decode(errors="replace")
    return proc.stdout


def rec(path: Path, shell_command: str, home: Path) -> None:
    """``asciinema rec -c COMMAND FILE`` in a pty, as a user would record a session."""
    tool = shlex.quote(_need(ASCIINEMA))
    in_pty(f"{tool} rec -q -c {shlex.quote(shell_command)} {shlex.quote(str(path))}", home)
    assert path.exists(), "asciinema rec wrote no file"


def play(path: Path, home: Path) -> bytes:
    """``asciinema play`` at high speed in a pty; returns what the terminal showed."""
    return in_pty(
        f"{shlex.quote(str(_need(ASCIINEMA)))} play -s 20 -i 0.1 {shlex.quote(str(path))}", home
    )
