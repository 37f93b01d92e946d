"""Real programs run under a pseudo-terminal of a fixed size, their output kept.

The fidelity tests need what vi, less or top really write to a terminal,
byte for byte, not output written by hand. A program gets a pty of the
requested size and TERM=xterm-256color, is sent keys when its screen shows
what a user would wait for, and everything it writes is recorded. Marks cut
the recording where the user would have looked at the screen (vi showing
the file, before ``:q``).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Expect:
    """Wait until the output so far contains ``text``, then until the
    program stops writing for ``settle`` seconds (a redraw in progress must
    not be cut in half)."""

    text: bytes
    settle: float = 0.3


@dataclass(frozen=True)
class Send:
    keys: bytes


@dataclass(frozen=True)
class Pause:
    """Let an interactive program run, as a user watching it would."""

    seconds: float


@dataclass(frozen=True)
class Mark:
    """Remember the output so far under ``name``."""

    name: str


Step = Expect | Send | Pause | Mark


@dataclass
class Recording:
    output: bytes = b""
    marks: dict[str, bytes] = field(default_factory=dict)


class ProgramRun:
    def __init__(self, fd: int, pid: int) -> None:
        self.fd = fd
        self.pid = pid
        self.recording = Recording()

    def read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False at end of output."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the program and its children are gone
            return False
        if not chunk:
            return False
        self.recording.output += chunk
        return True

    def expect(self, step: Expect, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while step.text not in self.recording.output:
            if time.monotonic() > deadline or not self.read(0.1):
                raise AssertionError(
                    f"never saw {step.text!r}; output: {self.recording.output[-500:]!r}"
                )
        self.settle(step.settle)

    def settle(self, quiet: float) -> None:
        while True:
            before = len(self.recording.output)
            if not self.read(quiet) or len(self.recording.output) == before:
                return

    def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.read(0.1):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                raise AssertionError(f"program still writing after {timeout} s")


def record(
    argv: Sequence[str],
    cols: int,
    rows: int,
    steps: Sequence[Step] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 15.0,
) -> Recording:
    """Run ``argv`` on a ``cols`` x ``rows`` pty, play ``steps``, and
    return its output once it has exited."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    environment |= {"TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
    environment |= dict(env or {})
    pid, fd = pty.fork()
    if pid == 0:  # the child: only async-signal-safe work before exec
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            if cwd is not None:
                os.chdir(cwd)
            os.execvpe(argv[0], list(argv), environment)
        finally:
            os._exit(127)
    run = ProgramRun(fd, pid)
    try:
        for step in steps:
            match step:
                case Expect():
                    run.expect(step, timeout)
                case Send(keys):
                    os.write(fd, keys)
                case Pause(seconds):
                    deadline = time.monotonic() + seconds
                    while time.monotonic() < deadline and run.read(0.05):
                        pass
                case Mark(name):
                    run.recording.marks[name] = run.recording.output
        run.drain(timeout)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise AssertionError(f"{argv[0]} exited with status {status}: {run.recording.output!r}")
    return run.recording
