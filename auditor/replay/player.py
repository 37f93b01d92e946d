"""``auditor replay --format play``: a recording played in the user's terminal.

The pace, seeking, stepping and following are ``Playback``'s (the same core
the TUI's replay screen drives); this module is the terminal's side: keys
in, bytes out, the window title, and the terminal given back as it was.

Output goes to the terminal byte for byte, as the user saw it, when the
terminal is at least the recorded size. After a seek (or a jump over a
burst) there is nothing to stream, so the screen the keyframes produced is
drawn instead (``redraw``). A terminal smaller than the recording can't
take the bytes as they are (they would wrap into garbage): then the
emulated screen's top-left part is drawn, with one line at the bottom that
says so. The terminal is put in cbreak mode for single keys and restored
on every way out: the end, ``q``, Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import termios
import time
import tty
from collections.abc import Callable, Iterator
from types import FrameType

from auditor.recording.escapes import complete_end
from auditor.replay import keys
from auditor.replay.keyframes import OUTPUT, Record
from auditor.replay.playback import (
    Playback,
    PlaybackCommand,
    SeekBy,
    SetSpeed,
    Step,
    TogglePlay,
)
from auditor.replay.redraw import ENTER_ALT, LEAVE_ALT, draw_clipped, redraw
from auditor.replay.timing import clock, next_speed

SEEK_STEP = 5.0
TITLE_EVERY = 1.0

# What a recording may have left switched on in the user's terminal: mouse
# reporting, bracketed paste, application keys, a scroll region, a pen.
RESTORE = (
    b"\x1b[0m\x1b[?25h\x1b[?1l\x1b>\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l"
    b"\x1b[?2004l\x1b7\x1b[r\x1b8"
)
ALT_SWITCH = re.compile(rb"\x1b\[\?(?:1049|1047|47)([hl])")


def at_rest(data: bytes) -> bool:
    """``data`` does not end inside an escape sequence or a UTF-8 character,
    so the player may put a sequence of its own (the title) after it."""
    return complete_end(data) == len(data)


def _command(key: str, playback: Playback) -> PlaybackCommand | None:
    match key:
        case keys.PAUSE:
            return TogglePlay()
        case keys.LEFT:
            return SeekBy(-SEEK_STEP)
        case keys.RIGHT:
            return SeekBy(SEEK_STEP)
        case keys.FASTER:
            return SetSpeed(next_speed(playback.speed, 1))
        case keys.SLOWER:
            return SetSpeed(next_speed(playback.speed, -1))
        case keys.STEP:
            return Step()
    return None


class _Quit(Exception):
    pass


def terminal_size(fd: int) -> tuple[int, int]:
    """``(cols, rows)`` of the terminal on ``fd`` (a large one if it is none)."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return 10_000, 10_000
    return size.columns or 10_000, size.lines or 10_000


class Player:
    def __init__(
        self,
        playback: Playback,
        *,
        out_fd: int,
        in_fd: int | None,
        name: str = "",
        size: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        self.playback = playback
        self.out_fd = out_fd
        self.in_fd = in_fd
        self.name = name
        self.size = size or (lambda: terminal_size(out_fd))
        self.alternate = False  # the user's terminal is on its alternate screen
        self.clipped_note: str | None = None  # shown while the terminal is too small
        self._drawn: tuple[int, tuple[int, int], tuple[int, int]] | None = None
        self._keys: list[str] = []  # read but not acted on yet
        self._at_rest = True  # the output so far ends between sequences
        self._parser = keys.KeyParser()
        self._title_at = 0.0

    # Output
    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.out_fd, view) :]

    def _frame(self, shown: list[Record]) -> None:
        """Show what ``Playback`` just showed: its bytes as they are, or the
        whole screen again after a jump, a resize or in a small terminal."""
        pb = self.playback
        size = self.size()
        pb.fit(*size)
        state = (pb.generation, size, (pb.cols, pb.rows))
        if state != self._drawn:
            self._draw_all(size)
            self._drawn = state
            return
        if self.clipped_note is not None:
            dirty = pb.terminal.take_dirty()
            if dirty:
                self.write(draw_clipped(pb.terminal, dirty, size[0], size[1] - 1))
            return
        pb.terminal.take_dirty()
        for _t, kind, data in shown:
            if kind == OUTPUT:
                if switches := ALT_SWITCH.findall(data):
                    self.alternate = switches[-1] == b"h"
                self.write(data)
                self._at_rest = at_rest(data)

    def _draw_all(self, size: tuple[int, int]) -> None:
        pb = self.playback
        terminal = pb.terminal
        cols, rows = size
        leave = LEAVE_ALT if self.alternate else b""
        terminal.take_dirty()
        self._at_rest = True
        if terminal.cols <= cols and terminal.rows <= rows:
            self.clipped_note = None
            self.write(leave + redraw(terminal))
            self.alternate = terminal.in_alternate_screen
            return
        # Too small: the top-left part on the alternate screen, the last row says so.
        height = max(1, rows - 1)
        self.clipped_note = (
            f"auditor: recorded at {terminal.cols}x{terminal.rows}, this terminal is "
            f"{cols}x{rows}: showing the top-left {min(cols, terminal.cols)}x"
            f"{min(height, terminal.rows)}"
        )
        note = self.clipped_note[:cols].encode()
        self.write(
            (b"" if self.alternate else ENTER_ALT)
            + b"\x1b[r\x1b[0m\x1b[H\x1b[2J"
            + f"\x1b[{rows};1H\x1b[7m".encode()
            + note
            + b"\x1b[0m"
            + draw_clipped(terminal, range(terminal.rows), cols, height)
        )
        self.alternate = True

    def _title(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._at_rest or (not force and now - self._title_at < TITLE_EVERY):
            return
        self._title_at = now
        pb = self.playback
        state = "paused" if not (pb.playing or pb.following) else f"{pb.speed:g}x"
        total = "live" if not pb.ended else clock(pb.duration)
        title = f"auditor replay {self.name} [{state}] {clock(pb.position)} / {total}"
        self.write(f"\x1b]2;{title}\x07".encode())

    # Keys
    def _read_keys(self, timeout: float | None) -> list[str]:
        if self._keys:
            keys_read, self._keys = self._keys, []
            return keys_read
        if self.in_fd is None:
            if timeout is not None:
                time.sleep(timeout)
            return []
        ready, _, _ = select.select([self.in_fd], [], [], timeout)
        if not ready:
            return []
        data = os.read(self.in_fd, 1024)
        if not data:  # input closed: play on without keys
            self.in_fd = None
            return []
        return self._parser.feed(data)

    def _handle(self, key: str) -> None:
        if key == keys.QUIT:
            raise _Quit
        command = _command(key, self.playback)
        if command is not None:
            self._frame(self.playback.handle(command))
            self._title(force=True)

    # Playing
    def run(self, start: float = 0.0) -> None:
        """Take over the terminal, play, and give the terminal back as it was."""
        with terminal_session(self.in_fd, self.out_fd):
            try:
                self.play(start)
            finally:
                # CAN first: Ctrl-C may have cut an escape sequence in two.
                leave = LEAVE_ALT if self.alternate else b""
                self.write(b"\x18" + leave + RESTORE + b"\x1b[23;0t\r\n")
        if self.clipped_note is not None:
            os.write(2, (self.clipped_note + "\n").encode())

    def play(self, start: float = 0.0) -> None:
        """Play from ``start`` to the end (or until ``q``)."""
        pb = self.playback
        try:
            pb.seek(start)
            pb.resume()
            self._frame([])
            self._title(force=True)
            while not pb.finished:
                wait = pb.until_due()
                if self.in_fd is None and wait is None:
                    pb.resume()  # no keys to resume with: play on
                    continue
                timeout = TITLE_EVERY if wait is None else min(wait, TITLE_EVERY)
                for key in self._read_keys(timeout):
                    self._handle(key)
                self._frame(pb.tick())
                self._title()
        except (_Quit, KeyboardInterrupt):
            return


@contextlib.contextmanager
def terminal_session(in_fd: int | None, out_fd: int) -> Iterator[None]:
    """Single keys without echo, and the terminal as it was on every way out."""
    saved = termios.tcgetattr(in_fd) if in_fd is not None else None

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        if in_fd is not None:
            tty.setcbreak(in_fd, termios.TCSANOW)
        os.write(out_fd, b"\x1b[22;0t")  # keep the window title, to give it back
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if saved is not None and in_fd is not None:
            termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)
