"""Playing a recording through the terminal emulator, for the replay screen.

Headless: one thread owns a ``Playback`` and drives it from commands; the
screen only draws the frames it is sent. Seeking goes through the
replay keyframes (``auditor.replay``), so any moment of a long recording
is a snapshot load plus a little emulation. A live recording is followed
by polling its cursor for records the proxy has flushed since.

Emulation per step is bounded: when playback falls further behind than
``budget`` bytes of output (a fast burst, a high speed), it jumps through
the keyframes instead of emulating every byte, so the frame rate and the
UI stay steady whatever the recording's rate.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditor.recording import Record, RecordingReader, Stream, decode_resize
from auditor.replay.emulator import Terminal
from auditor.replay.keyframes import OUTPUT, RESIZE, KeyframeIndex, apply
from auditor.replay.recorded import recording_keyframes

Item = tuple[float, str, Any]
BUDGET = 512 * 1024
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def as_item(record: Record) -> Item | None:
    if record.stream in (Stream.OUTPUT, Stream.STDERR):
        return record.t, OUTPUT, record.data
    if record.stream == Stream.RESIZE:
        return record.t, RESIZE, decode_resize(record.data)
    return None


class RecordFeed:
    """Records after a keyframe, from a cursor that can be polled again as the file grows."""

    def __init__(self, reader: RecordingReader, start: float, skip_same_t: int) -> None:
        self.cursor = reader.cursor(start)
        self._start = start
        self._skip = skip_same_t
        self._it: Iterator[Record] | None = None
        self._peek: Item | None = None
        self.last_t = start

    def peek(self) -> Item | None:
        """The next record, or None when there is nothing more for now."""
        while self._peek is None:
            if self._it is None:
                self._it = self.cursor.poll()
            record = next(self._it, None)
            if record is None:
                self._it = None
                return None
            item = as_item(record)
            if item is None:
                continue
            if self._skip and record.t == self._start:
                self._skip -= 1
                continue
            self._peek = item
        return self._peek

    def take(self) -> Item:
        item = self.peek()
        assert item is not None
        self._peek = None
        self.last_t = item[0]
        return item


class Playback:
    """A terminal at a position in a recording."""

    def __init__(self, path: Path, *, live: bool = False) -> None:
        self.path = path
        self.live = live
        self.reader = RecordingReader(path)
        self.keyframes: KeyframeIndex = recording_keyframes(path)
        # Output times, for stepping back and the timeline's length.
        self.times: list[float] = [
            r.t
            for r in self.reader.records()
            if r.stream in (Stream.OUTPUT, Stream.STDERR, Stream.RESIZE)
        ]
        self.duration = max(self.reader.summary().duration, self.times[-1] if self.times else 0.0)
        self.position = 0.0
        self.terminal = Terminal(self.keyframes.cols, self.keyframes.rows)
        self.feed = RecordFeed(self.reader, 0.0, 0)
        self.generation = 0  # bumped when the terminal is replaced: redraw everything
        self.seek(0.0)
        first = self.feed.peek()
        if first is not None and first[1] == RESIZE and first[0] < 1.0:
            self.seek(first[0])  # open at the pty's size, not the emulator's default

    @property
    def cols(self) -> int:
        return self.terminal.cols

    @property
    def rows(self) -> int:
        return self.terminal.rows

    def _note(self, t: float) -> None:
        if not self.times or t > self.times[-1]:
            self.times.append(t)
        self.duration = max(self.duration, t)

    def seek(self, t: float) -> None:
        """The terminal as it was once every record up to ``t`` was shown."""
        t = max(0.0, t)
        keyframe = self.keyframes.at(t)
        self.terminal = self.keyframes.terminal_at(keyframe)
        self.generation += 1
        self.feed = RecordFeed(self.reader, keyframe.t, keyframe.same_t if keyframe.ordinal else 0)
        self.position = keyframe.t
        self.advance(t, budget=None)
        self.position = t

    def advance(self, t: float, budget: int | None = BUDGET) -> bool:
        """Show the records up to ``t``; False when the recording has nothing more for now.

        More than ``budget`` bytes to emulate means jumping via a keyframe.
        """
        fed = 0
        while (item := self.feed.peek()) is not None and item[0] <= t:
            if budget is not None and fed > budget:
                self.seek(t)
                return True
            rt, kind, data = self.feed.take()
            apply(self.terminal, kind, data)
            self._note(rt)
            if kind == OUTPUT:
                fed += len(data)
        self.position = min(max(self.position, t), self.duration)
        return item is not None

    def step(self) -> None:
        """Forward to the next record's time (one write of the session)."""
        item = self.feed.peek()
        if item is not None:
            self.advance(item[0], budget=None)

    def step_back(self) -> None:
        """Back to the previous record's time."""
        i = bisect.bisect_left(self.times, self.position) - 1
        self.seek(self.times[i] if i >= 0 else 0.0)

    def find_forward(self, needle: str, limit: int = 50_000) -> bool:
        """Step on from here until ``needle`` is on screen (a search hit's time is
        where its stretch of text starts, not where the line appears)."""
        if not needle:
            return False
        folded = needle.casefold()
        for _ in range(limit):
            if folded in self.terminal.text().casefold():
                return True
            item = self.feed.peek()
            if item is None:
                return False
            self.advance(item[0], budget=None)
        return False

    def follow(self, budget: int = BUDGET) -> bool:
        """Catch up with a live recording, at most ``budget`` bytes at a time;
        True if anything new was shown (call again while it is behind)."""
        fed = 0
        shown = False
        while fed <= budget and self.feed.peek() is not None:
            rt, kind, data = self.feed.take()
            apply(self.terminal, kind, data)
            self._note(rt)
            shown = True
            if kind == OUTPUT:
                fed += len(data)
        self.position = max(self.position, self.feed.last_t)
        return shown

    @property
    def behind(self) -> bool:
        """Records are waiting that ``follow`` has not shown yet."""
        return self.feed.peek() is not None
