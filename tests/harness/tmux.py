"""A private tmux server for driving real terminal programs in tests."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping

from tests.harness.openssh import require


class Tmux:
    def __init__(self, width: int = 100, height: int = 30) -> None:
        self.tmux = require("tmux")
        self.socket = f"auditor-test-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height
        self.session = "t"
        # Options in the server's config apply before the first command runs:
        # set afterwards, a command that exits at once takes its pane (and its
        # output) with it.
        fd, conf = tempfile.mkstemp(prefix="auditor-tmux-", suffix=".conf")
        os.write(fd, b"set -g remain-on-exit on\nset -g history-limit 5000\n")
        os.close(fd)
        self.conf = conf

    def _run(self, *args: str) -> str:
        out = subprocess.run(
            [self.tmux, "-L", self.socket, "-f", self.conf, *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout

    def start(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        command = " ".join(shlex.quote(a) for a in argv)
        if env:
            command = (
                "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + command
            )
        self._run(
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            str(self.width),
            "-y",
            str(self.height),
            command,
        )

    def send(self, *keys: str) -> None:
        self._run("send-keys", "-t", self.session, *keys)

    def type(self, text: str) -> None:
        self._run("send-keys", "-t", self.session, "-l", text)

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", self.session)

    def resize(self, width: int, height: int) -> None:
        self._run("resize-window", "-t", self.session, "-x", str(width), "-y", str(height))

    def wait_for(self, predicate: Callable[[str], bool] | str, timeout: float = 15) -> str:
        check = (lambda s: predicate in s) if isinstance(predicate, str) else predicate
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {predicate!r}; screen:\n{screen}")

    def exit_status(self) -> str | None:
        """``"exit N"`` or ``"signal N"`` once the pane's program has ended, else None.

        tmux built with libutempter swaps in utempter's SIGCHLD handler while it
        drops the pane's utmp record at end of file on the pty: a program that
        exits in that moment stays a zombie tmux never reaps, its pane dead
        without a status (tmux/tmux#311). Such a pane gets tmux a SIGCHLD of its
        own, so it reaps the program and records the status.
        """
        fields = "#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}|#{pid}"
        out = self._run("display-message", "-p", "-t", self.session, fields)
        dead, status, sig, server = out.strip().split("|")
        if dead != "1":
            return None
        if sig:
            return f"signal {sig}"
        if status:
            return f"exit {status}"
        os.kill(int(server), signal.SIGCHLD)
        return None

    def wait_for_exit(self, timeout: float = 15) -> str:
        """The pane program's ``exit_status``, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.exit_status()
            if status is not None:
                return status
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for the program to exit; screen:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(
            [self.tmux, "-L", self.socket, "kill-server"], capture_output=True, check=False
        )
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.conf)
