"""Real sessions for replay tests: OpenSSH's ssh through the recording proxy,
driven in tmux, and the auditor CLI run in tmux beside it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.harness.tmux import Tmux
from tests.proxy.conftest import Setup

PROMPT = "$ "


def at_prompt(screen: str) -> bool:
    return screen.rstrip().endswith("$")


@contextmanager
def ssh_session(setup: Setup, width: int = 80, height: int = 24) -> Iterator[Tmux]:
    """A logged-in interactive shell through the proxy, prompt ``$ ``."""
    tmux = Tmux(width, height)
    try:
        tmux.start(
            setup.client.argv("-tt", "-p", str(setup.node.port), setup.target()),
            env={**setup.client.env(), "TERM": "xterm-256color"},
        )
        tmux.wait_for(lambda s: s.rstrip().endswith(("#", "$")))
        tmux.type(f"export PS1='{PROMPT}' LANG=C.UTF-8; clear\n")
        tmux.wait_for(lambda s: s.strip() == "$")
        yield tmux
    finally:
        tmux.kill()


def run(tmux: Tmux, command: str, until: str, timeout: float = 15) -> str:
    """Type a command and wait for ``until`` on screen and the prompt after it."""
    tmux.type(command + "\n")
    return tmux.wait_for(lambda s: until in s and at_prompt(s), timeout)


def end_session(tmux: Tmux) -> None:
    tmux.type("exit\n")
    tmux.wait_for(lambda s: "Pane is dead" in s or "Connection to node.example.com closed" in s)


def sessions(setup: Setup) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(setup.cli.run("sessions", "--json").stdout)
    return rows


def wait_sessions(setup: Setup, status: str, n: int = 1, timeout: float = 15) -> list[str]:
    """IDs of ``n`` sessions in ``status``, oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in sessions(setup) if r["status"] == status]
        if len(rows) >= n:
            return [str(r["id"]) for r in reversed(rows)]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {n} {status} sessions: {sessions(setup)}")
        time.sleep(0.1)


def recording_path(setup: Setup, session_id: str) -> Path:
    row = next(r for r in sessions(setup) if r["id"] == session_id)
    return Path(str(row["recording_path"]))


def auditor_in_tmux(setup: Setup, *args: str, width: int = 80, height: int = 24) -> Tmux:
    """``auditor ARGS`` in a terminal of its own; when it exits, the pane shows
    its exit status and the terminal's line discipline (``stty -a``)."""
    tmux = Tmux(width, height)
    command = " ".join([sys.executable, "-m", "auditor", *args])
    script = f"{command}; echo \"rc=$?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e echo"
    tmux.start(["sh", "-c", script], env=setup.cli.environ())
    return tmux


def pane_title(tmux: Tmux) -> str:
    query = ["display-message", "-p", "-t", tmux.session, "#{pane_title}"]
    out = subprocess.run(
        [tmux.tmux, "-L", tmux.socket, *query],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def wait_title(tmux: Tmux, needle: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    title = ""
    while time.monotonic() < deadline:
        title = pane_title(tmux)
        if needle in title:
            return title
        time.sleep(0.05)
    raise AssertionError(f"pane title never showed {needle!r}: {title!r}")
