"""Playback: a terminal at a position in a recording, moved by the clock and by commands.

The one replay core. ``auditor replay`` (``player``) and the TUI's replay
screen both drive a ``Playback``: they turn keys into ``PlaybackCommand``s, call
``tick`` as time passes and show what it returns; position, pace (speed,
idle cap), pause, seek, step, search and following a live session live
here only.

Seeking goes through the keyframes, so any moment of a long recording is a
snapshot load plus a little emulation. Emulation per tick is bounded: when
playing falls further behind than ``budget`` bytes of output (a burst, a
high speed), it jumps through the keyframes instead of emulating every
byte, so the frame rate stays steady whatever the recording's rate. A
consumer notices a jump (or any seek) by ``generation`` changing and draws
the whole terminal again.

Single-threaded: one thread owns a ``Playback``.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass

from auditor.recording import RecordingReader
from auditor.recording.shown import had_pty
from auditor.replay.emulator import Terminal
from auditor.replay.keyframes import OUTPUT, RESIZE, KeyframeIndex, Record, apply
from auditor.replay.moment import citable
from auditor.replay.recorded import RecordFeed, recording_keyframes, replay_records
from auditor.replay.timing import MAX_SPEED, MIN_SPEED, capped, replay_span

BUDGET = 512 * 1024
LIVE_POLL = 0.05  # how often a live recording is looked at while caught up


@dataclass(frozen=True)
class TogglePlay:
    pass


@dataclass(frozen=True)
class SeekTo:
    t: float


@dataclass(frozen=True)
class SeekBy:
    delta: float


@dataclass(frozen=True)
class Step:
    """On to the next output (pausing)."""


@dataclass(frozen=True)
class StepBack:
    """Back to the previous output's time (pausing)."""


@dataclass(frozen=True)
class SetSpeed:
    speed: float


@dataclass(frozen=True)
class ToggleFollow:
    pass


@dataclass(frozen=True)
class Find:
    """Seek to ``t`` and step on until ``line`` (else ``word``) is on screen."""

    t: float
    line: str
    word: str = ""


PlaybackCommand = TogglePlay | SeekTo | SeekBy | Step | StepBack | SetSpeed | ToggleFollow | Find


class Playback:
    def __init__(
        self,
        reader: RecordingReader,
        keyframes: KeyframeIndex | None = None,
        *,
        live: bool = False,
        still_live: Callable[[], bool] | None = None,
        speed: float = 1.0,
        max_idle: float | None = None,
        budget: int | None = BUDGET,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.reader = reader
        self.keyframes = keyframes if keyframes is not None else recording_keyframes(reader.path)
        self.live = live
        self.still_live = still_live
        self.speed = speed
        self.max_idle = max_idle
        self.budget = budget
        self.playing = False
        self.following = False
        self.generation = 0  # bumped whenever the terminal is replaced
        self._clock = clock
        self._wall = wall
        self._ticked = clock()
        self._pty = had_pty(reader)
        self._fit: tuple[int, int] | None = None
        self._last_t = reader.summary().duration
        self._times: list[float] | None = None  # output times, for stepping back
        self.position = 0.0
        self.drawn = 0.0  # when the last record shown came: the screen stands since
        self._from = 0.0  # where the wait for the next record began
        self.terminal = Terminal(self.keyframes.cols, self.keyframes.rows)
        self.feed = self._feed_from(0.0, 0, live)
        self.seek(0.0)
        first = self.feed.peek()
        if first is not None and first[1] == RESIZE and first[0] < 1.0:
            self.seek(first[0])  # open at the pty's size, not the emulator's default

    # State
    @property
    def cols(self) -> int:
        return self.terminal.cols

    @property
    def rows(self) -> int:
        return self.terminal.rows

    @property
    def ended(self) -> bool:
        """Nothing more will be recorded (always, for a session that is over)."""
        return self.feed.ended

    @property
    def duration(self) -> float:
        """The recording's length; a live one's grows with the clock."""
        if self.ended:
            return self._last_t
        return max(self._last_t, self._wall() - self.reader.start)

    @property
    def behind(self) -> bool:
        """Records are waiting that have not been shown yet."""
        return self.feed.peek() is not None

    @property
    def finished(self) -> bool:
        return self.ended and not self.behind and self.position >= self.duration

    @property
    def pty(self) -> bool | None:
        """Whether the channel had a pty (None: a live one not started yet)."""
        return self._pty

    def fit(self, cols: int, rows: int) -> None:
        """Show a channel without a pty at the viewer's size: it has none of
        its own (its user's terminal wrapped its lines at whatever width it
        had). A pty's recorded size is kept."""
        self._fit = (cols, rows)
        if self._pty is False and (self.cols, self.rows) != (cols, rows):
            self.terminal.resize(cols, rows)

    def _feed_from(self, t: float, skip: int, live: bool) -> RecordFeed:
        if self._pty is None and t > 0:
            self._pty = had_pty(self.reader)
        return RecordFeed(
            self.reader, t, skip, pty=self._pty, still_live=self.still_live, live=live
        )

    def _show(self, item: Record) -> None:
        apply(self.terminal, item[1], item[2])
        t = item[0]
        self._last_t = max(self._last_t, t)
        self.drawn = max(self.drawn, t)
        if self._times is not None and (not self._times or t > self._times[-1]):
            self._times.append(t)

    # Commands
    def handle(self, command: PlaybackCommand) -> list[Record]:
        """Act on a command; returns the records it showed (a step's)."""
        match command:
            case TogglePlay():
                if self.playing or self.following:
                    self.playing = self.following = False
                else:
                    if self.finished:
                        self.seek(0.0)  # from the start again
                    self.resume()
            case SeekTo(t):
                self.seek(t)
                self.following = False
            case SeekBy(delta):
                self.seek(self.position + delta)
                self.following = False
            case Step():
                self.playing = self.following = False
                return self.step()
            case StepBack():
                self.playing = self.following = False
                self.step_back()
            case SetSpeed(speed):
                self.speed = min(max(speed, MIN_SPEED), MAX_SPEED)
            case ToggleFollow():
                if not self.ended:
                    self.following = not self.following
                    self.playing = False
                    if self.following:
                        return self._catch_up()
            case Find(t, line, word):
                self.playing = self.following = False
                self.seek(t)
                if not self.find_forward(line):
                    self.seek(t)
                    self.find_forward(word)
        return []

    def resume(self) -> None:
        """Play on from here at the current pace."""
        self.playing, self.following = True, False
        self._ticked = self._clock()

    @property
    def moment_t(self) -> float:
        """The position as a moment cites it: the roundest time showing this
        same screen (``auditor.replay.moment.citable``)."""
        item = self.feed.peek()
        before = item[0] if item is not None else None  # when the screen next changes
        return citable(min(self.drawn, self.position), self.position, before)

    def seek(self, t: float) -> None:
        """The terminal as it was once every record up to ``t`` was shown."""
        t = min(max(0.0, t), self.duration)
        keyframe = self.keyframes.at(t)
        self.terminal = self.keyframes.terminal_at(keyframe)
        self.drawn = keyframe.t
        if self._fit is not None:
            self.fit(*self._fit)
        live = not self.ended
        self.feed = self._feed_from(keyframe.t, keyframe.same_t if keyframe.ordinal else 0, live)
        while (item := self.feed.peek()) is not None and item[0] <= t:
            self._show(self.feed.take())
        self.position = self._from = t
        self.generation += 1

    def step(self) -> list[Record]:
        """Up to and including the next output."""
        shown: list[Record] = []
        while (item := self.feed.peek()) is not None:
            self._show(self.feed.take())
            shown.append(item)
            self.position = self._from = max(self.position, item[0])
            if item[1] == OUTPUT:
                break
        return shown

    def step_back(self) -> None:
        if self._times is None:
            self._times = [t for t, _kind, _data in replay_records(self.reader.records())]
        i = bisect.bisect_left(self._times, self.position) - 1
        self.seek(self._times[i] if i >= 0 else 0.0)

    def find_forward(self, needle: str, limit: int = 50_000) -> bool:
        """Step on from here until ``needle`` is on screen (a search hit's time is
        where its stretch of text starts, not where the line appears)."""
        if not needle:
            return False
        folded = needle.casefold()
        for _ in range(limit):
            if folded in self.terminal.text().casefold():
                return True
            if not self.step():
                return False
        return False

    # The clock
    def tick(self) -> list[Record]:
        """Move on with the clock; returns the records shown (the terminal has
        them already). After a jump (``generation`` changed) it returns none:
        draw the whole terminal instead."""
        now = self._clock()
        played = (now - self._ticked) * self.speed
        self._ticked = now
        if self.following:
            return self._catch_up()
        if not self.playing:
            return []
        return self._play(played)

    def _left(self, until: float) -> float:
        """Capped seconds of recording time still to play before ``until``."""
        gap = max(0.0, until - self._from)
        length = capped(gap, self.max_idle)
        done = (self.position - self._from) * (length / gap) if gap > 0 else 0.0
        return max(0.0, length - done)

    def _move_towards(self, until: float, left: float, played: float) -> None:
        """Part of the way to ``until`` (``left`` capped seconds away) after
        ``played`` more seconds of playing."""
        gap = until - self._from
        done = capped(gap, self.max_idle) - left
        self.position = self._from + replay_span(gap, done + played, self.max_idle)

    def _play(self, played: float) -> list[Record]:
        shown: list[Record] = []
        fed = 0
        jumped = False
        while True:
            item = self.feed.peek()
            if item is None:
                self._run_out(played)
                break
            left = self._left(item[0])
            if played < left:
                self._move_towards(item[0], left, played)
                break
            played -= left
            self.feed.take()
            self.position = self._from = max(self.position, item[0])
            if self.budget is not None and fed > self.budget:
                jumped = True
                self._last_t = max(self._last_t, item[0])
                continue
            self._show(item)
            shown.append(item)
            if item[1] == OUTPUT:
                fed += len(item[2])
        if jumped:
            self.seek(self.position)
            return []
        return shown

    def _run_out(self, played: float) -> None:
        """No record to show for now: move towards the end (or the live edge)."""
        end = self.duration
        if self.ended:
            left = self._left(end)
            if played < left:
                self._move_towards(end, left, played)
                return
            self.position = end
            self.playing = False
            return
        self.position = min(self.position + played, end)
        if self.position >= end:
            # Caught up with a live session: show its output as it comes.
            self.playing, self.following = False, True

    def _catch_up(self) -> list[Record]:
        """Show what a live recording has added, ``budget`` bytes at a time."""
        shown: list[Record] = []
        fed = 0
        while (item := self.feed.peek()) is not None:
            if self.budget is not None and fed > self.budget:
                return shown  # the rest on the next tick
            self._show(self.feed.take())
            shown.append(item)
            if item[1] == OUTPUT:
                fed += len(item[2])
        if self.ended:
            self.following = False
            self.position = self._from = self.duration
        else:
            self.position = self._from = max(self.position, self.duration)
        return shown

    def until_due(self) -> float | None:
        """Wall seconds until ``tick`` has something to do; None while paused."""
        if self.following:
            return LIVE_POLL
        if not self.playing:
            return None
        item = self.feed.peek()
        if item is None:
            return self._left(self.duration) / self.speed if self.ended else LIVE_POLL
        return self._left(item[0]) / self.speed
