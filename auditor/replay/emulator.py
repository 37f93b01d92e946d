"""The terminal a replay renders into: what the user saw, cell by cell.

pyte (through the faster ``FastScreen``/``FastStream``) does the emulation.
On top of it this adds what a recorded session needs and pyte lacks:

- the alternate screen (``CSI ?1049h/l``, ``?47``, ``?1047``), so vim, less
  and top replay on their own screen and the shell's screen comes back
  after them;
- lines scrolled off the top of the main screen, for text transcripts;
- resizes that keep the cursor's line on screen, as xterm does (stock pyte
  drops lines from the top and can leave the cursor below the last row);
- silence: a replay must never answer a query (DA, DSR) - there is no
  program to answer;
- what pyte lacks and programs use: SU/SD, REP, CBT, DECSCA with selective
  erase (DECSED, DECSEL), and DECSC/DECRC as xterm and tmux keep them (one
  slot with charsets, origin mode and DECSCA);
- DECCOLM as a terminal that keeps its size shows it (tmux; xterm by
  default): the screen cleared, the width unchanged.

UTF-8 split across feeds is handled by the stream's incremental decoder;
wide characters and 16/256/true colours are pyte's.
"""

from __future__ import annotations

import copy
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from pyte import charsets as cs
from pyte import modes as mo
from pyte.screens import Char, Cursor, Margins, StaticDefaultDict, wcwidth

from auditor.replay.fastscreen import FastScreen, FastStream, ProtectedChar

# A cell as rendered: ``data`` (the character, "" for the right half of a
# wide one), ``fg``/``bg`` ("default", an ANSI name such as "red" or
# "brightred", or "rrggbb" hex for 256 and true colours), bold, italics,
# underscore, strikethrough, reverse, blink.
Cell = Char

Line = StaticDefaultDict[int, Char]
Buffer = dict[int, Line]  # a defaultdict at run time, typed as pyte types it

# Private modes, shifted the way pyte stores them.
ALT_SCREEN_SAVE_CURSOR = 1049 << 5  # save cursor, switch, clear; back and restore
ALT_SCREEN_CLEAR_ON_EXIT = 1047 << 5  # switch; clear when leaving
ALT_SCREEN = 47 << 5  # switch only
EMPTY_LINE: Line = StaticDefaultDict(Char(" "))

_ALT_MODES = frozenset({ALT_SCREEN_SAVE_CURSOR, ALT_SCREEN_CLEAR_ON_EXIT, ALT_SCREEN})
_COLUMN_MODE = 3  # DECCOLM, unshifted


class CursorState(NamedTuple):
    x: int
    y: int
    visible: bool


class SavedCursor(NamedTuple):
    """What DECSC saves, as xterm and tmux save it: position, attributes,
    charsets and which one is shifted in, origin mode, and DECSCA."""

    cursor: Cursor
    g0_charset: str
    g1_charset: str
    charset: int
    origin: bool
    protecting: bool


def render_line(line: Line | None, columns: int) -> str:
    """A line's text as pyte's ``display`` and tmux's ``capture-pane``
    render it: the right half of a wide character is skipped. An orphaned
    right half (its wide character overwritten) shows as a blank, where
    stock ``display`` would fail."""
    if line is None:
        return " " * columns
    out: list[str] = []
    after_wide = False
    for x in range(columns):
        data = line[x].data
        if not data:
            if not after_wide:
                out.append(" ")
            after_wide = False
            continue
        after_wide = wcwidth(data[0]) == 2
        out.append(data)
    return "".join(out)


class TerminalScreen(FastScreen):
    """``FastScreen`` plus the alternate screen, scrollback capture, silent
    queries and xterm-like resizing."""

    def __init__(
        self, columns: int, lines: int, on_scroll_off: Callable[[Line, int], None] | None = None
    ) -> None:
        self.alternate = False
        # The buffer not on display: the main screen while the alternate one
        # is shown, else the alternate screen's last content (``?47`` shows
        # it again) or None.
        self.other_buffer: Buffer | None = None
        self.alt_saved: SavedCursor | None = None
        # DECSC's one slot (a list, as pyte keeps it, of at most one).
        self.savepoints: list[SavedCursor] = []  # type: ignore[assignment]
        self.on_scroll_off = on_scroll_off
        super().__init__(columns, lines)

    def new_buffer(self) -> Buffer:
        return defaultdict(lambda: StaticDefaultDict[int, Char](self.default_char))

    @property
    def main_buffer(self) -> Buffer:
        if self.alternate:
            assert self.other_buffer is not None
            return self.other_buffer
        return self.buffer

    def reset(self) -> None:
        # RIS returns to the main screen and forgets the alternate one.
        if self.alternate:
            assert self.other_buffer is not None
            self.buffer = self.other_buffer
            self.alternate = False
        self.other_buffer = None
        self.alt_saved = None
        self.protecting = False
        super().reset()
        self.g1_charset = cs.LAT1_MAP  # pyte's G1 is line drawing; terminals' is ASCII

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and _COLUMN_MODE in modes:
            modes = tuple(m for m in modes if m != _COLUMN_MODE)
            self._switch_columns()
        if kwargs.get("private") and any(m << 5 in _ALT_MODES for m in modes):
            for m in modes:
                if m << 5 in _ALT_MODES:
                    self._enter_alternate(m << 5)
            modes = tuple(m for m in modes if m << 5 not in _ALT_MODES)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and _COLUMN_MODE in modes:
            modes = tuple(m for m in modes if m != _COLUMN_MODE)
            self._switch_columns()
        if kwargs.get("private") and any(m << 5 in _ALT_MODES for m in modes):
            for m in modes:
                if m << 5 in _ALT_MODES:
                    self._leave_alternate(m << 5)
            modes = tuple(m for m in modes if m << 5 not in _ALT_MODES)
        super().reset_mode(*modes, **kwargs)

    def _switch_columns(self) -> None:
        """DECCOLM (``CSI ?3h``, ``CSI ?3l``) as tmux does it: the width stays (the
        user's window does not change size; xterm too refuses by default), the
        screen is cleared and the cursor goes home, inside the margins in origin
        mode; margins and modes stay. Stock pyte resized to 132 columns."""
        self.erase_in_display(2)
        self.cursor_position()

    def _enter_alternate(self, mode: int) -> None:
        if mode == ALT_SCREEN_SAVE_CURSOR:
            self.alt_saved = self._saved()
        if not self.alternate:
            shown = self.other_buffer if self.other_buffer is not None else self.new_buffer()
            self.other_buffer, self.buffer = self.buffer, shown
            self.alternate = True
        if mode == ALT_SCREEN_SAVE_CURSOR:
            self.buffer.clear()
        self.dirty.update(range(self.lines))

    def _leave_alternate(self, mode: int) -> None:
        if self.alternate:
            if mode == ALT_SCREEN_CLEAR_ON_EXIT:
                self.buffer.clear()
            assert self.other_buffer is not None
            self.other_buffer, self.buffer = self.buffer, self.other_buffer
            self.alternate = False
            self.dirty.update(range(self.lines))
        if mode == ALT_SCREEN_SAVE_CURSOR and self.alt_saved is not None:
            # Position and attributes only, as tmux does: DECSC's slot,
            # charsets and origin mode are left as they are.
            self.cursor = self.alt_saved.cursor
            self.alt_saved = None
            self.ensure_hbounds()
            self.ensure_vbounds()

    def _saved(self) -> SavedCursor:
        return SavedCursor(
            copy.copy(self.cursor),
            self.g0_charset,
            self.g1_charset,
            self.charset,
            mo.DECOM in self.mode,
            self.protecting,
        )

    def save_cursor(self) -> None:
        """DECSC and ``CSI s``: one slot, overwritten each time."""
        self.savepoints = [self._saved()]

    def restore_cursor(self) -> None:
        """DECRC and ``CSI u``: the slot stays, so a second restore goes
        back to the same place; with nothing saved, the state a reset
        leaves. Origin mode comes back either way; autowrap is not saved."""
        if self.savepoints:
            saved = self.savepoints[-1]
        else:
            saved = SavedCursor(
                Cursor(0, 0, self.default_char), cs.LAT1_MAP, cs.LAT1_MAP, 0, False, False
            )
        self.g0_charset, self.g1_charset, self.charset = saved[1:4]
        self.protecting = saved.protecting
        if saved.origin:
            self.mode.add(mo.DECOM)
        else:
            self.mode.discard(mo.DECOM)
        cursor = copy.copy(saved.cursor)
        cursor.hidden = self.cursor.hidden
        self.cursor = cursor
        cursor.x = min(cursor.x, self.columns)
        cursor.y = min(cursor.y, self.lines - 1)

    def scroll_up(self, count: int | None = None) -> None:
        """SU: the scroll region moves up, the cursor stays. Lines leaving
        a region at the top of the main screen reach the scrollback, as
        they do in xterm and tmux."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        y = self.cursor.y
        for _ in range(min(max(count or 1, 1), bottom - top + 1)):
            self.cursor.y = bottom
            self.index()
        self.cursor.y = y

    def scroll_down(self, count: int | None = None) -> None:
        """SD: the scroll region moves down, blank lines come in at its top."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        n = min(max(count or 1, 1), bottom - top + 1)
        buffer = self.buffer
        for y in range(bottom, top - 1, -1):
            if y - n >= top and y - n in buffer:
                buffer[y] = buffer[y - n]
            else:
                buffer.pop(y, None)
        self.dirty.update(range(top, bottom + 1))

    def repeat_last(self, char: str, count: int | None = None) -> None:
        """REP: the last printed character again, up to the end of the line
        (tmux's limit)."""
        self.draw(char * min(max(count or 1, 1), self.columns - self.cursor.x))

    def back_tab(self, count: int | None = None) -> None:
        """CBT: back to the previous tab stop, ``count`` times."""
        x = min(self.cursor.x, self.columns - 1)
        for _ in range(max(count or 1, 1)):
            x = max((t for t in self.tabstops if t < x), default=0)
        self.cursor.x = x

    def select_character_protection(self, mode: int = 0) -> None:
        """DECSCA: 1 protects the cells drawn next from selective erase."""
        self.protecting = mode == 1

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        if not private:
            super().erase_in_line(how)
            return
        # DECSEL: everything but protected cells.
        x = self.cursor.x
        columns = {0: range(x, self.columns), 1: range(x + 1), 2: range(self.columns)}.get(how)
        if columns is not None:
            self._erase_unprotected(self.cursor.y, columns)

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        if not kwargs.get("private"):
            super().erase_in_display(how, *args)
            return
        # DECSED: everything but protected cells.
        y = self.cursor.y
        rows = {0: range(y + 1, self.lines), 1: range(y), 2: range(self.lines)}.get(how)
        if rows is None:
            return
        for row in rows:
            if row in self.buffer:  # cells never drawn are blank already, as pyte's ED has it
                self._erase_unprotected(row, list(self.buffer[row]))
        if how in (0, 1):
            self.erase_in_line(how, private=True)

    def _erase_unprotected(self, y: int, columns: Iterable[int]) -> None:
        line = self.buffer[y]
        blank = self.cursor.attrs
        for x in columns:
            if not isinstance(line[x], ProtectedChar):
                line[x] = blank
        self.dirty.add(y)

    @property
    def display(self) -> list[str]:
        return [render_line(self.buffer.get(y), self.columns) for y in range(self.lines)]

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if (
            self.on_scroll_off is not None
            and not self.alternate
            and top == 0
            and self.cursor.y == bottom
        ):
            # The line leaves the buffer for good, so it can be kept as is
            # and rendered only if someone asks.
            self.on_scroll_off(self.buffer.get(0) or EMPTY_LINE, self.columns)
        super().index()

    def report_device_attributes(self, mode: int = 0, **kwargs: bool) -> None:
        """No reply: nothing is listening to a replay."""

    def report_device_status(self, mode: int) -> None:
        """No reply: nothing is listening to a replay."""

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        lines = lines or self.lines
        columns = columns or self.columns
        if lines == self.lines and columns == self.columns:
            return
        buffers = [b for b in (self.buffer, self.other_buffer) if b is not None]
        if lines < self.lines:
            # Keep the cursor's line: what no longer fits above it scrolls
            # off (into the scrollback, for the main screen), the rest of
            # the cut comes off the bottom. Behind the alternate screen, the
            # main screen's cursor is the one 1049 saved.
            hidden_main = self.alternate and self.alt_saved is not None
            for buffer in buffers:
                if buffer is self.buffer or not hidden_main:
                    cursor = self.cursor
                else:
                    assert self.alt_saved is not None
                    cursor = self.alt_saved.cursor
                excess = max(0, cursor.y - (lines - 1))
                if excess and buffer is self.main_buffer and self.on_scroll_off is not None:
                    for y in range(excess):
                        self.on_scroll_off(buffer.get(y) or EMPTY_LINE, self.columns)
                shifted = {y - excess: line for y, line in buffer.items() if excess <= y}
                buffer.clear()
                buffer.update((y, line) for y, line in shifted.items() if y < lines)
                if buffer is self.buffer or hidden_main:
                    cursor.y -= excess
            for sp in self.savepoints:
                sp.cursor.y = min(sp.cursor.y, lines - 1)
        if columns < self.columns:
            for buffer in buffers:
                for line in buffer.values():
                    for x in [x for x in line if x >= columns]:
                        del line[x]
            self.cursor.x = min(self.cursor.x, columns)
        else:
            first_new = (self.columns + 7) // 8 * 8
            self.tabstops.update(range(max(8, first_new), columns, 8))
        self.lines, self.columns = lines, columns
        self.dirty.update(range(lines))
        self.margins = None


class Terminal:
    """A headless terminal fed with a session's output bytes.

    ``on_scroll_off`` receives each line of the main screen that scrolls off
    the top (or is cut off by a shrinking resize), as text; the last
    ``scrollback`` of them are also kept in :attr:`scrollback`.
    """

    def __init__(
        self,
        cols: int = 80,
        rows: int = 24,
        *,
        scrollback: int = 1000,
        on_scroll_off: Callable[[str], None] | None = None,
    ) -> None:
        if cols < 1 or rows < 1:
            raise ValueError(f"terminal size must be at least 1x1, not {cols}x{rows}")
        self._scrollback: deque[tuple[Line, int]] = deque(maxlen=scrollback)
        self._on_scroll_off = on_scroll_off
        self.screen = TerminalScreen(cols, rows, on_scroll_off=self._scrolled_off)
        self.stream = FastStream(self.screen)

    def _scrolled_off(self, line: Line, columns: int) -> None:
        self._scrollback.append((line, columns))
        if self._on_scroll_off is not None:
            self._on_scroll_off(render_line(line, columns).rstrip())

    @property
    def scrollback(self) -> list[str]:
        """The last lines that scrolled off the main screen, oldest first,
        without trailing blanks."""
        return [render_line(line, columns).rstrip() for line, columns in self._scrollback]

    def feed(self, data: bytes) -> None:
        """Emulate output bytes; a multibyte character may span two feeds."""
        self.stream.feed(data)

    def resize(self, cols: int, rows: int) -> None:
        if cols < 1 or rows < 1:
            raise ValueError(f"terminal size must be at least 1x1, not {cols}x{rows}")
        self.screen.resize(lines=rows, columns=cols)

    @property
    def cols(self) -> int:
        return self.screen.columns

    @property
    def rows(self) -> int:
        return self.screen.lines

    @property
    def lines(self) -> list[str]:
        """The screen as text, one full-width string per row."""
        return self.screen.display

    def text(self) -> str:
        """The screen as text without trailing blanks."""
        return "\n".join(line.rstrip() for line in self.lines).rstrip("\n")

    def row(self, y: int) -> list[Cell]:
        line = self.screen.buffer.get(y)
        if line is None:
            return [self.screen.default_char] * self.cols
        return [line[x] for x in range(self.cols)]

    def cell(self, x: int, y: int) -> Cell:
        line = self.screen.buffer.get(y)
        return self.screen.default_char if line is None else line[x]

    @property
    def cursor(self) -> CursorState:
        c = self.screen.cursor
        return CursorState(min(c.x, self.cols - 1), c.y, not c.hidden)

    @property
    def in_alternate_screen(self) -> bool:
        return self.screen.alternate

    @property
    def title(self) -> str:
        return self.screen.title

    def take_dirty(self) -> set[int]:
        """Rows changed since the last call (for incremental redraws)."""
        dirty = {y for y in self.screen.dirty if y < self.rows}
        self.screen.dirty.clear()
        return dirty
