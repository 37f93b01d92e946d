"""``auditor replay --format play``: a recording played in the user's terminal.

Timing is a chain of small generators, as in asciinema 2.x::

    records -> relative_time -> cap_idle -> absolute_time -> at_speed

Each takes and gives ``(time, record)`` pairs, so each is testable alone.
The player rebuilds the chain from the current position whenever the pace
changes (pause, resume, speed, seek); the records themselves are read once.

Output goes to the terminal byte for byte, as the user saw it. A seek has
nothing to stream: the keyframes give the screen at the target time, which
is drawn (``redraw``), and streaming continues from there. The terminal is
put in cbreak mode for single keys and restored on every way out: the end,
``q``, Ctrl-C, SIGTERM or an error.
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
from collections.abc import Callable, Iterable, Iterator
from types import FrameType

from auditor.replay import keys
from auditor.replay.keyframes import OUTPUT, KeyframeIndex, Record, RecordSource, records_after
from auditor.replay.redraw import LEAVE_ALT, redraw

Timed = tuple[float, Record]

SEEK_STEP = 5.0
MIN_SPEED = 1 / 16
MAX_SPEED = 64.0
TITLE_EVERY = 1.0

# What a recording may have left switched on in the user's terminal: mouse
# reporting, bracketed paste, application keys, a scroll region, a pen.
RESTORE = (
    b"\x1b[0m\x1b[?25h\x1b[?1l\x1b>\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l"
    b"\x1b[?2004l\x1b7\x1b[r\x1b8"
)
ALT_SWITCH = re.compile(rb"\x1b\[\?(?:1049|1047|47)([hl])")
_COMPLETE = re.compile(
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]"  # CSI
    rb"|\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    rb"|[PX^_][\s\S]*?\x1b\\"  # DCS and friends
    rb"|[ -/]+[0-~]"  # charset designation
    rb"|[0-OQ-WYZ\\`-~])"  # two-byte escapes, not the introducers above
)


def at_rest(data: bytes) -> bool:
    """``data`` does not end inside an escape sequence or a UTF-8 character,
    so the player may put a sequence of its own (the title) after it."""
    back = 0
    while back < min(3, len(data)) and 0x80 <= data[-1 - back] < 0xC0:
        back += 1
    if back < len(data) and data[-1 - back] >= 0xC0:
        lead = data[-1 - back]
        if back + 1 < (2 if lead < 0xE0 else 3 if lead < 0xF0 else 4):
            return False
    esc = data.rfind(b"\x1b", max(0, len(data) - 4096))
    return esc < 0 or _COMPLETE.match(data, esc) is not None


# The timing pipeline.
def relative_time(records: Iterable[Record], start: float = 0.0) -> Iterator[Timed]:
    """Each record with the time since the one before (the first: since ``start``)."""
    prev = start
    for record in records:
        yield max(0.0, record[0] - prev), record
        prev = max(prev, record[0])


def cap_idle(items: Iterable[Timed], max_idle: float | None) -> Iterator[Timed]:
    """No pause longer than ``max_idle`` seconds."""
    for delay, record in items:
        yield (delay if max_idle is None else min(delay, max_idle)), record


def absolute_time(items: Iterable[Timed]) -> Iterator[Timed]:
    """Delays back to times since the start of playback."""
    t = 0.0
    for delay, record in items:
        t += delay
        yield t, record


def at_speed(items: Iterable[Timed], speed: float) -> Iterator[Timed]:
    for t, record in items:
        yield t / speed, record


def schedule(
    records: Iterable[Record], start: float, speed: float = 1.0, max_idle: float | None = None
) -> Iterator[Timed]:
    """When to show each record, in seconds from now, playing from ``start``."""
    return at_speed(absolute_time(cap_idle(relative_time(records, start), max_idle)), speed)


def clock(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class _Quit(Exception):
    pass


class Player:
    def __init__(
        self,
        source: RecordSource,
        keyframes: KeyframeIndex,
        *,
        duration: Callable[[], float],
        out_fd: int,
        in_fd: int | None,
        speed: float = 1.0,
        max_idle: float | None = None,
        name: str = "",
        live: bool = False,
    ) -> None:
        self.source = source
        self.keyframes = keyframes
        self.duration = duration
        self.out_fd = out_fd
        self.in_fd = in_fd
        self.speed = speed
        self.max_idle = max_idle
        self.name = name
        self.live = live
        self.position = 0.0
        self.paused = False
        self.alternate = False  # the user's terminal is on its alternate screen
        self._records: Iterator[Record] = iter(())
        self._pending: Record | None = None
        self._timeline: Iterator[Timed] = iter(())
        self._anchor = 0.0  # monotonic time the timeline counts from
        self._position_wall = 0.0  # monotonic time ``position`` was last moved to
        self._generation = 0  # bumped by every seek
        self._keys: list[str] = []  # read but not acted on yet
        self._at_rest = True  # the output so far ends between sequences
        self._parser = keys.KeyParser()
        self._title_at = 0.0

    # Output.
    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.out_fd, view) :]

    def _show(self, record: Record) -> None:
        t, kind, data = record
        self.position = max(self.position, t)
        self._position_wall = time.monotonic()
        if kind == OUTPUT:
            switches = ALT_SWITCH.findall(data)
            if switches:
                self.alternate = switches[-1] == b"h"
            self.write(data)
            self._at_rest = at_rest(data)

    def _settle(self, upto: float) -> None:
        """Move the position on with the clock, short of the next record at ``upto``."""
        now = time.monotonic()
        if not self.paused:
            played = self.position + (now - self._position_wall) * self.speed
            self.position = max(self.position, min(upto, played))
        self._position_wall = now

    def _title(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._at_rest or (not force and now - self._title_at < TITLE_EVERY):
            return
        self._title_at = now
        state = "paused" if self.paused else f"{self.speed:g}x"
        total = "live" if self.live else clock(self.duration())
        title = f"auditor replay {self.name} [{state}] {clock(self.position)} / {total}"
        self.write(f"\x1b]2;{title}\x07".encode())

    # Position and pace.
    def _next_record(self) -> Record | None:
        if self._pending is not None:
            record, self._pending = self._pending, None
            return record
        return next(self._records, None)

    def _restart_timeline(self) -> None:
        records = iter(self._next_record, None)
        self._timeline = schedule(records, self.position, self.speed, self.max_idle)
        self._anchor = self._position_wall = time.monotonic()

    def seek(self, t: float) -> None:
        """Draw the screen as it was at ``t`` and play on from there."""
        t = min(max(0.0, t), self.duration())
        keyframe = self.keyframes.at(t)
        terminal = self.keyframes.terminal_at(keyframe)
        records = records_after(keyframe, self.source)
        self._pending = None
        for record in records:
            if record[0] > t:
                self._pending = record
                break
            kind, data = record[1], record[2]
            if kind == OUTPUT:
                terminal.feed(data)
            elif kind == "resize":
                terminal.resize(*data)
        self._records = records
        self.position = t
        self._generation += 1
        self.write((LEAVE_ALT if self.alternate else b"") + redraw(terminal))
        self.alternate = terminal.in_alternate_screen
        self._at_rest = True
        self._restart_timeline()
        self._title(force=True)

    def _step(self) -> None:
        """One frame on, while paused: up to and including the next output."""
        while (record := self._next_record()) is not None:
            if record[1] == "tick":
                break
            self._show(record)
            if record[1] == OUTPUT:
                break
        self._title(force=True)

    def _handle(self, key: str) -> bool:
        """Act on a key; True when the timeline must be rebuilt."""
        if key == keys.QUIT:
            raise _Quit
        if key == keys.PAUSE:
            self.paused = not self.paused
        elif key in (keys.LEFT, keys.RIGHT):
            self.seek(self.position + (SEEK_STEP if key == keys.RIGHT else -SEEK_STEP))
        elif key == keys.FASTER:
            self.speed = min(self.speed * 2, MAX_SPEED)
        elif key == keys.SLOWER:
            self.speed = max(self.speed / 2, MIN_SPEED)
        elif key == keys.STEP:
            if not self.paused:
                return False
            self._step()
            return True
        self._title(force=True)
        return True

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

    def _wait(self, deadline: float, upto: float) -> bool:
        """Wait until ``deadline`` reading keys; True if the pace changed (the
        keys after the one that changed it wait for the new pace)."""
        while (left := deadline - time.monotonic()) > 0:
            pressed = self._read_keys(min(left, TITLE_EVERY))
            self._settle(upto)
            for i, key in enumerate(pressed):
                if self._handle(key):
                    self._keys = pressed[i + 1 :] + self._keys
                    return True
            self._title()
        return False

    def _pause(self) -> None:
        while self.paused:
            for key in self._read_keys(TITLE_EVERY if self.in_fd is not None else None):
                self._handle(key)
            if self.in_fd is None:
                self.paused = False

    def run(self, start: float = 0.0) -> None:
        """Take over the terminal, play, and give the terminal back as it was."""
        with terminal_session(self.in_fd, self.out_fd):
            try:
                self.play(start)
            finally:
                # CAN first: Ctrl-C may have cut an escape sequence in two.
                leave = LEAVE_ALT if self.alternate else b""
                self.write(b"\x18" + leave + RESTORE + b"\x1b[23;0t\r\n")

    def play(self, start: float = 0.0) -> None:
        """Play from ``start`` to the end (or until ``q``)."""
        try:
            self.seek(start)
            while True:
                if self.paused:
                    self._pause()
                    self._restart_timeline()
                item = next(self._timeline, None)
                if item is None:
                    return
                when, record = item
                generation = self._generation
                if self._wait(self._anchor + when, record[0]):
                    if self._generation == generation:  # not a seek: still to show
                        self._pending = record
                    self._restart_timeline()
                    continue
                self._show(record)
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
