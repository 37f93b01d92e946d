"""tmux as the reference terminal: bytes in, the screen a user would see out.

The replay emulator must show what a real terminal showed, so its tests
compare it with one. tmux runs headless, takes any size and prints its
screen on demand. Each screen comes from a fresh session whose pane puts
its tty in raw mode (no newline translation) and copies the bytes to it,
then sets the pane title to a sentinel: tmux parses a pane's output in
order, so once the title reads the sentinel every byte before it is on the
screen.

Each ``ReferenceTerminal`` runs a private tmux server on its own socket and
ends only that server.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

from pyte import charsets

INSTALL_HINT = (
    "tmux is the reference terminal of the replay fidelity tests: install it with "
    "`apt-get install tmux` (or run scripts/test as root, which does)"
)

# What `capture-pane -e` writes besides text: SGR, and SO/SI around cells in
# the DEC line-drawing set, which tmux stores as the ASCII letters it got.
_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_SHIFTED = re.compile(r"\x0e([^\x0f]*)\x0f?")


class TmuxMissing(AssertionError):
    """No tmux: the fidelity tests fail, they never skip."""


def _visible(captured: str) -> str:
    """A capture as the user saw it: line-drawing letters drawn as the
    glyphs tmux shows for them (a run may go on over several lines),
    attributes dropped."""
    text = _CSI.sub("", captured)
    return _SHIFTED.sub(lambda m: m.group(1).translate(charsets.VT100_MAP), text)


class ReferenceTerminal:
    """A private tmux server that shows byte streams at given sizes."""

    def __init__(self) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            raise TmuxMissing(INSTALL_HINT)
        self.tmux = tmux
        self.socket = f"auditor-fidelity-{uuid.uuid4().hex[:8]}"
        self.workdir = Path(tempfile.mkdtemp(prefix="auditor-reference-"))
        self._count = 0
        self._started = False
        self._socket_path = ""

    def _run(self, *args: str) -> str:
        out = subprocess.run(
            [self.tmux, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout

    def screen(self, data: bytes, cols: int, rows: int, timeout: float = 10.0) -> list[str]:
        """The ``rows`` lines tmux shows after ``data``, trailing blanks
        stripped. ``data`` must end between escape sequences: the sentinel
        that follows it has to parse as one of its own."""
        self._count += 1
        session = f"s{self._count}"
        path = self.workdir / f"{session}.bytes"
        path.write_bytes(data)
        sentinel = f"fed-{uuid.uuid4().hex[:12]}"
        command = (
            f"stty raw -echo; cat {path}; printf '\\033]2;{sentinel}\\033\\\\'; exec sleep 600"
        )
        if not self._started:
            # A session that outlives the others keeps the server up between screens.
            self._run("new-session", "-d", "-s", "keep", "exec sleep 3600")
            self._started = True
            self._socket_path = self._run("display-message", "-p", "#{socket_path}").strip()
        self._run("new-session", "-d", "-s", session, "-x", str(cols), "-y", str(rows), command)
        try:
            deadline = time.monotonic() + timeout
            while self._run("display-message", "-p", "-t", session, "#{pane_title}").strip() != (
                sentinel
            ):
                if time.monotonic() > deadline:
                    raise AssertionError(f"tmux did not take {len(data)} bytes in {timeout} s")
                time.sleep(0.01)
            captured = self._run("capture-pane", "-p", "-e", "-t", session)
        finally:
            self._run("kill-session", "-t", session)
            path.unlink()
        lines = [line.rstrip() for line in _visible(captured).split("\n")[:rows]]
        return lines + [""] * (rows - len(lines))

    def close(self) -> None:
        if self._started:
            subprocess.run(
                [self.tmux, "-L", self.socket, "kill-server"], capture_output=True, check=False
            )
            with contextlib.suppress(OSError):
                os.unlink(self._socket_path)  # tmux 3.3 leaves it behind
        with contextlib.suppress(OSError):
            os.rmdir(self.workdir)

    def __enter__(self) -> ReferenceTerminal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
