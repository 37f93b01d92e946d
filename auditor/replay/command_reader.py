"""The commands a user ran, read off the emulated screen as they pressed Enter.

Keystrokes are not commands: history recall, tab completion, arrows and
backspace all edit a line the user only sees on screen. So a pty session is
run through the terminal emulator and, when the user presses Enter, the
line the terminal shows at the moment the program moves off it (its echo of
the newline) is the command, with the prompt it was typed at taken off.
That prompt is what stood before the cursor when the user started typing
the line, so nested shells (``sudo -i``, ``bash -i``, ``ssh`` onward) and
REPLs give their lines with their own prompt as context. A line the
program did not echo (a password at ``read -s`` or ``sudo``'s prompt)
shows only its prompt and is never taken. Lines typed into full-screen
programs (vim's ``:wq``) are not commands either.

Where typed input was withheld from the recording (a password, see
``auditor.proxy.redact``) the list says so: a ``[input withheld]`` entry
with the prompt it was typed at as its context.

A channel without a pty has exactly one command: its exec request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pyte.screens import Margins

from auditor.recording import Record, Stream, decode_resize
from auditor.recording.format import WITHHELD_TEXT
from auditor.recording.shown import SHOWN_STREAMS, ShownOutput
from auditor.replay.emulator import Terminal, TerminalScreen, render_line
from auditor.replay.fastscreen import FastStream
from auditor.replay.moment import citable

MAX_LINE = 4096  # a longer "command" is pasted data, kept cut
# Prompts of shells and REPLs, for a line whose own prompt was not seen
# (several lines pasted at once).
_PROMPT = re.compile(r"^.{0,80}?(?:[$#%>]|>>>|\.\.\.)\s")
_ENTER = re.compile(rb"[\r\n]")
_EXEC = b"exec "


@dataclass(frozen=True)
class Command:
    # Seconds into the recording: when Enter was pressed, or a rounder time
    # shortly before it at which the screen already showed the whole line
    # (auditor.replay.moment.citable), so the moment printed for it shows it.
    t: float
    line: str  # the command as the screen showed it
    context: str  # the prompt it was typed at ("$", "root@db:~#", ">>>"); "" for exec


class _CommandScreen(TerminalScreen):
    """A screen that tells its reader when the cursor leaves a line."""

    def __init__(self, columns: int, lines: int, reader: CommandReader) -> None:
        self.reader = reader
        self.wrapping = False
        super().__init__(columns, lines)

    def draw(self, data: str) -> None:
        # A line feed while drawing is the autowrap of a long line: the
        # cursor goes on with the same line.
        self.wrapping = True
        try:
            super().draw(data)
        finally:
            self.wrapping = False

    def linefeed(self) -> None:
        self.reader.leaving_line(wrapping=self.wrapping)
        super().linefeed()


class CommandReader:
    """Fed a channel's records in order; collects its commands."""

    def __init__(self, cols: int = 80, rows: int = 24) -> None:
        self.terminal = Terminal(cols, rows, scrollback=0)
        self.terminal.screen = _CommandScreen(cols, rows, self)
        self.terminal.stream = FastStream(self.terminal.screen)
        self.shown = ShownOutput()
        self.commands: list[Command] = []
        # Enters not echoed yet: (when the line was last drawn, when Enter came)
        self._pending: list[tuple[float, float]] = []
        self._drawn = 0.0  # when output last came
        self._now = 0.0  # the time of the output being fed (that may end a line)
        self._keyed = False  # keys came after it (not yet echoed, maybe)
        self._answered = False  # output came after them (without echoing them)
        self._typing = False
        self._prompt: str | None = None
        self._prompt_row = 0
        self._pty = False

    @property
    def screen(self) -> TerminalScreen:
        return self.terminal.screen

    def feed(self, record: Record) -> None:
        record = self.shown(record)
        stream = record.stream
        if stream in SHOWN_STREAMS:
            if self._pty:
                self._answered = bool(self._pending)
                self._now = record.t
                self.terminal.feed(record.data)
                self._drawn, self._keyed = record.t, False
        elif stream == Stream.INPUT:
            if self._pty:
                self._typed(record.t, record.data)
        elif stream == Stream.RESIZE:
            self._pty = True
            self.terminal.resize(*decode_resize(record.data))
        elif stream == Stream.WITHHELD:
            self._withheld(record.t)
        elif stream == Stream.MARKER and record.data.startswith(_EXEC) and not self._pty:
            line = record.data[len(_EXEC) :].decode("utf-8", "replace")
            self.commands.append(Command(record.t, line[:MAX_LINE], ""))

    def _withheld(self, t: float) -> None:
        """Input was withheld here: said where it was typed (never in a
        full-screen program, whose keys are not commands either)."""
        if self.screen.alternate:
            return
        cursor = self.screen.cursor
        row = render_line(self.screen.buffer.get(cursor.y), self.screen.columns)
        self.commands.append(Command(t, WITHHELD_TEXT, row[: cursor.x].strip()))

    def _typed(self, t: float, data: bytes) -> None:
        if self.screen.alternate:
            return
        if self._pending and self._answered:
            # The program answered those Enters without moving off the line:
            # it was not echoing (a password). Never a command; the next
            # prompt is on that same line now.
            self._pending.clear()
            self._typing = False
        if not self._typing:
            # The first key of a line: what stands before the cursor is its prompt.
            cursor = self.screen.cursor
            row = render_line(self.screen.buffer.get(cursor.y), self.screen.columns)
            self._prompt = row[: cursor.x].rstrip()
            self._prompt_row = cursor.y
            self._typing = True
        if b"\x03" in data and not self._pending:
            self._typing = False  # Ctrl-C: the line is abandoned
            return
        # The line stood whole on the screen from the last output on only if
        # the Enter came alone after it; keys typed ahead of their echo show
        # later, so such a line's moment is its Enter.
        enters = [(t, t) for _ in _ENTER.finditer(data)]
        if enters and not self._keyed and data[:1] in (b"\r", b"\n"):
            enters[0] = (self._drawn, t)
        self._keyed = True
        if enters:
            self._pending.extend(enters)
            self._answered = False

    def leaving_line(self, wrapping: bool = False) -> None:
        """The program moves the cursor off its line: if Enter is pending, the
        line as shown now is the command."""
        screen = self.screen
        bottom = (screen.margins or Margins(0, screen.lines - 1)).bottom
        if not self._pending or screen.alternate or wrapping:
            if screen.cursor.y == bottom:
                self._prompt_row -= 1  # the screen scrolls under the line being typed
            return
        # The screen showed the line until this output (the Enter's echo).
        t = citable(*self._pending.pop(0), before=self._now)
        first = max(0, min(self._prompt_row, screen.cursor.y))
        rows = [
            render_line(screen.buffer.get(y), screen.columns)
            for y in range(first, screen.cursor.y + 1)
        ]
        text = "".join(rows).rstrip()
        prompt = self._prompt or ""
        if prompt and text.startswith(prompt):
            line, context = text[len(prompt) :].strip(), prompt
        elif self._prompt is None and (m := _PROMPT.match(text)):
            line, context = text[m.end() :].strip(), m.group().strip()
        else:
            line, context = text.strip(), prompt
        if line:
            self.commands.append(Command(t, line[:MAX_LINE], context))
        # The next line's prompt is read when its first key comes; a line
        # pasted together with this one has none of its own.
        self._typing = bool(self._pending)
        self._prompt = None if self._pending else self._prompt
        self._prompt_row = screen.cursor.y + 1
        if screen.cursor.y == bottom:
            self._prompt_row -= 1

    def take(self) -> list[Command]:
        commands, self.commands = self.commands, []
        return commands


def session_commands(records: Iterable[Record]) -> Iterator[Command]:
    """A recorded channel's commands, in order, as they become known."""
    reader = CommandReader()
    for record in records:
        reader.feed(record)
        if reader.commands:
            yield from reader.take()
