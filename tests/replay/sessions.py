"""Real sessions for replay tests: OpenSSH's ssh through the recording proxy,
driven in tmux, and the auditor CLI run in tmux beside it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.harness.auditor_cli import AuditorCli
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


def need(tool: str, package: str) -> None:
    """The node runs on this machine: the programs sessions run must be here."""
    if shutil.which(tool) is None:
        pytest.fail(
            f"{tool} not found: install it with `apt-get install {package}` (scripts/test does)"
        )


def record_vim(setup: Setup, directory: Path) -> str:
    """A session that edits a file in vi and comes back to the shell."""
    need("vi", "vim-tiny")
    target = directory / "notes.txt"
    with ssh_session(setup) as tmux:
        run(tmux, "echo before-vim", "before-vim")
        tmux.type(f"vi {target}\n")
        tmux.wait_for(lambda s: s.count("\n~") >= 5)
        tmux.type("iHello from vim")
        tmux.wait_for("Hello from vim")
        tmux.send("Escape")
        time.sleep(0.3)
        tmux.type(":wq\n")
        tmux.wait_for(lambda s: "~" not in s and s.rstrip().endswith("$"))
        run(tmux, "echo after-vim", "after-vim")
        end_session(tmux)
    assert target.read_text() == "Hello from vim\n"
    return wait_sessions(setup, "ended")[0]


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


# Printed after the exit status and the terminal modes: wait for this, not
# for "rc=", or the modes may not be on screen yet.
REPORTED = "end-of-report"


def auditor_in_tmux(cli: AuditorCli, *args: str, width: int = 80, height: int = 24) -> Tmux:
    """``auditor ARGS`` in a terminal of its own; when it exits, the pane shows
    its exit status and the terminal's line discipline (``stty -a``)."""
    tmux = Tmux(width, height)
    command = " ".join([sys.executable, "-m", "auditor", *args])
    modes = "stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e echo"
    # Ctrl-C is for the command; the shell stays to report on it. A new tmux
    # pane can lose what is printed in its first moments: let it settle.
    script = f'sleep 0.5; trap : INT; {command}; echo "rc=$?"; {modes}; echo {REPORTED}'
    tmux.start(["sh", "-c", script], env=cli.environ())
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


def import_cast(cli: AuditorCli, directory: Path, events: list[tuple[float, str]]) -> str:
    """An asciicast of output ``events`` imported into ``cli``'s data dir; its ID."""
    cast = directory / "session.cast"
    lines = [json.dumps({"version": 2, "width": 80, "height": 24})]
    lines += [json.dumps([t, "o", text]) for t, text in events]
    cast.write_text("\n".join(lines) + "\n")
    out = cli.run("import", str(cast)).stdout
    prefix = out.split(" as ")[1].split()[0]
    rows = json.loads(cli.run("sessions", "--json").stdout)
    return next(str(r["id"]) for r in rows if str(r["id"]).startswith(prefix))
