"""The transcript a reader needs: what a session printed, as the screen showed it.

Unlike the searchable text (``auditor.recording.text``, escape sequences
stripped), this runs the output through the terminal emulator, so cursor
movement, overwrites and line editing are resolved the way the user saw
them. Lines come out as they leave the screen: scrolled off the top, wiped
by a clear-screen, or still there at the end. A full-screen program on the
alternate screen (vim, less, top) appears once, as its final screen when it
exits, instead of every redraw it made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pyte.screens import Margins

from auditor.recording import Record as RecordingRecord
from auditor.replay.emulator import Line, Terminal, TerminalScreen, render_line
from auditor.replay.fastscreen import FastStream
from auditor.replay.keyframes import OUTPUT, RESIZE, Record
from auditor.replay.recorded import replay_records


def _screen_text(buffer: dict[int, Line], cols: int, rows: int, first: int = 0) -> list[str]:
    lines = [render_line(buffer.get(y), cols).rstrip() for y in range(first, rows)]
    while lines and not lines[-1]:
        lines.pop()
    return lines


class TranscriptScreen(TerminalScreen):
    """A screen that also reports lines a clear-screen wipes and the alternate
    screen's last content when a program leaves it."""

    def __init__(
        self,
        columns: int,
        lines: int,
        on_scroll_off: Callable[[Line, int], None],
        on_lines: Callable[[list[str]], None],
        on_full_screen: Callable[[list[str]], None],
    ) -> None:
        self.on_lines = on_lines
        self.on_full_screen = on_full_screen
        # The top rows of the main screen already in the transcript (given out
        # before a full-screen program's screen, to keep the order).
        self.emitted = 0
        # vim ends with a newline on the bottom row, scrolling its screen up
        # just before it leaves: the alternate screen as it was before its
        # last scroll, and whether anything was drawn since. Counted in draw
        # calls, not records, so where the output's chunks fall never matters.
        self.pre_scroll_view: list[str] | None = None
        self.draws = 0
        self.draws_at_scroll = -1
        super().__init__(columns, lines, on_scroll_off=on_scroll_off)

    def draw(self, data: str) -> None:
        self.draws += 1
        super().draw(data)

    def index(self) -> None:
        if self.alternate and self.cursor.y == (self.margins or Margins(0, self.lines - 1)).bottom:
            self.pre_scroll_view = _screen_text(self.buffer, self.columns, self.lines)
            self.draws_at_scroll = self.draws
        super().index()

    def record_done(self) -> None:
        self.dirty.clear()

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        whole = how in (2, 3) or (how == 0 and self.cursor.x == 0 and self.cursor.y == 0)
        if whole and not self.alternate:
            self.on_lines(_screen_text(self.buffer, self.columns, self.lines, self.emitted))
            self.emitted = 0
        super().erase_in_display(how, *args, **kwargs)

    def _leave_alternate(self, mode: int) -> None:
        if self.alternate and self.other_buffer is not None:
            # The shell's lines above the program's command line come first.
            saved = self.alt_saved.cursor if self.alt_saved is not None else self.cursor
            done = min(saved.y, self.lines)
            above = [
                render_line(self.other_buffer.get(y), self.columns).rstrip()
                for y in range(self.emitted, done)
            ]
            self.on_lines(above)
            self.emitted = max(self.emitted, done)
            if self.pre_scroll_view is not None and self.draws == self.draws_at_scroll:
                self.on_full_screen(self.pre_scroll_view)
            else:
                self.on_full_screen(_screen_text(self.buffer, self.columns, self.lines))
            self.pre_scroll_view, self.draws_at_scroll = None, -1
        super()._leave_alternate(mode)


class TranscriptTerminal(Terminal):
    screen: TranscriptScreen

    def __init__(self, cols: int = 80, rows: int = 24) -> None:
        self.pending: list[str] = []
        super().__init__(cols, rows, scrollback=0, on_scroll_off=self.pending.append)
        self.screen = TranscriptScreen(
            cols,
            rows,
            on_scroll_off=self._scrolled_off,
            on_lines=self.pending.extend,
            on_full_screen=self._full_screen,
        )
        self.stream = FastStream(self.screen)

    def _scrolled_off(self, line: Line, columns: int) -> None:
        if self.screen.emitted:
            self.screen.emitted -= 1  # in the transcript already
            return
        super()._scrolled_off(line, columns)

    def _full_screen(self, lines: list[str]) -> None:
        self.pending.extend(lines)

    def take(self) -> list[str]:
        lines, self.pending[:] = list(self.pending), []
        return lines

    def final_lines(self) -> list[str]:
        """What is on screen at the end (a program still on the alternate
        screen shows as its screen, after the shell's lines under it)."""
        screen = self.screen
        if screen.alternate and screen.other_buffer is not None:
            main = _screen_text(screen.other_buffer, screen.columns, screen.lines, screen.emitted)
            return main + _screen_text(screen.buffer, screen.columns, screen.lines)
        return _screen_text(screen.buffer, screen.columns, screen.lines, screen.emitted)


def recording_transcript(records: Iterable[RecordingRecord]) -> Iterator[str]:
    """The transcript of a recording's records (``auditor replay --format
    text`` and ``auditor export --format text``), output as its user's
    terminal showed it."""
    return transcript_lines(replay_records(records))


class Transcript:
    """The transcript built a record at a time (``auditor tail --live`` into a
    pipe follows a growing recording with it): each call gives the lines that
    became final."""

    def __init__(self, cols: int = 80, rows: int = 24) -> None:
        self.terminal = TranscriptTerminal(cols, rows)

    def feed(self, record: Record) -> list[str]:
        _t, kind, data = record
        terminal = self.terminal
        if kind == OUTPUT:
            terminal.feed(data)
        elif kind == RESIZE:
            terminal.resize(*data)
        else:
            return []
        terminal.screen.record_done()
        return terminal.take() if terminal.pending else []

    def settle(self) -> list[str]:
        """The main screen's rows above the cursor, given out now rather than
        when they leave the screen (a live tail shows a shell's lines as they
        are finished). Blank rows wait for a row with text under them, so a
        session that ends on blank lines ends as the whole transcript does.
        A row rewritten after this (the cursor moved back up to it) is not
        given out again."""
        terminal = self.terminal
        screen = terminal.screen
        if not screen.alternate:
            above = _screen_text(screen.buffer, screen.columns, screen.cursor.y, screen.emitted)
            if above:
                terminal.pending.extend(above)
                screen.emitted += len(above)
        return terminal.take() if terminal.pending else []

    def finish(self) -> list[str]:
        """The lines still to come at the end: the screen as it was left."""
        return self.terminal.take() + self.terminal.final_lines()


def transcript_lines(records: Iterable[Record], cols: int = 80, rows: int = 24) -> Iterator[str]:
    """The transcript, line by line as lines become final; ``records`` may
    be a followed live recording."""
    transcript = Transcript(cols, rows)
    for record in records:
        lines = transcript.feed(record)
        if lines:
            yield from lines
    yield from transcript.finish()
