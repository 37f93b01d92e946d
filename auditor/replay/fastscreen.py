"""pyte, made fast enough to sit on every replay's path, and made to show
what a real terminal shows.

Stock pyte draws text one character at a time (a ``wcwidth`` lookup and a
``Char._replace`` per character) and parses escape sequences with a
generator that takes one ``send()`` per character; together that is under
1 MB/s. Here:

- ``FastScreen.draw`` writes runs of single-width characters into a line with
  one ``dict.update``, reusing one ``Char`` per (attributes, character);
- ``FastScreen.select_graphic_rendition`` memoises its result, which depends
  only on the current attributes, the parameters and reverse-video mode;
- ``FastStream`` matches whole sequences, control characters and text runs
  with one regular expression and dispatches them to the screen's methods.

Where stock pyte draws what a terminal draws, the output is stock pyte's
(tests/replay/test_equivalence.py checks that with hypothesis). Where it
does not, this follows tmux, the reference of tests/replay/test_fidelity.py
(and xterm where tmux has nothing): sequences are cut as DEC's parser cuts
them, so an unknown one (``CSI > 4;2 m``, a DCS, colon sub-parameters) is
consumed, never printed; SGR takes ITU T.416 colon forms; line drawing
works in UTF-8; a control character in text is skipped rather than ending
the text; a zero-width character joins the cell before it; a wide one that
does not fit wraps; ED 3 leaves the screen; IL, DL and DECSTBM behave as in
tmux. Malformed input never raises: a recording is untrusted, so the
sequence is dropped or clamped the way a terminal would.
"""

from __future__ import annotations

import functools
import inspect
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import pyte
from pyte import charsets as cs
from pyte import modes as mo
from pyte.screens import Char, Margins, wcwidth

# Caches are bounded: attributes and SGR combinations seen in real output are
# few, but a hostile stream could cycle through all 16M true colours.
_CACHE_LIMIT = 4096

# LAT1_MAP maps every code point below 256 to itself, so translating through
# it is a no-op worth skipping.
_IDENTITY_MAP = cs.LAT1_MAP if "".join(map(chr, range(256))) == cs.LAT1_MAP else None


def _single_width_class() -> str:
    """A regex character class of common characters pyte draws one cell wide.

    Built from pyte's own ``wcwidth`` so the fast path agrees with it; rarer
    characters simply take the per-character path.
    """
    ranges = [
        (0x20, 0x7E),  # ASCII
        (0xA0, 0x52F),  # Latin-1, Latin extended, IPA, Greek, Cyrillic
        (0x2010, 0x2027),  # dashes, quotes, bullets, ellipsis
        (0x2190, 0x21FF),  # arrows
        (0x2500, 0x25FF),  # box drawing, blocks, geometric shapes
        (0x2800, 0x28FF),  # braille (spinners, graphs)
    ]
    points = [
        cp
        for lo, hi in ranges
        for cp in range(lo, hi + 1)
        if wcwidth(chr(cp)) == 1 and not unicodedata.combining(chr(cp))
    ]
    parts: list[str] = []
    start = prev = points[0]
    for cp in [*points[1:], -1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev > start else ""))
        start = prev = cp
    return "[" + "".join(parts) + "]+"


_SINGLE_WIDTH_RUN = re.compile(_single_width_class())
_BLANK = Char(data=" ", fg="default", bg="default", reverse=False)
_REVERSE_BLANK = Char(data=" ", fg="default", bg="default", reverse=True)


class ProtectedChar(Char):
    """A cell drawn after DECSCA 1: selective erase (DECSED, DECSEL) leaves
    it. Protection lives in the cell's type, not a field, so it moves with
    the cell (scrolling, insertions) at no cost to drawing; it compares
    equal to the same ``Char`` unprotected."""

    __slots__ = ()


class Cells(dict[str, Char]):
    """Cells sharing one set of attributes, by character, built on first use."""

    __slots__ = ("make", "style")

    def __init__(self, attrs: Char, protected: bool = False) -> None:
        super().__init__()
        self.style: tuple[Any, ...] = tuple(attrs[1:])
        self.make: type[Char] = ProtectedChar if protected else Char

    def __missing__(self, data: str) -> Char:
        cell = self[data] = self.make(data, *self.style)
        return cell


def _joined(cell: Char, char: str) -> Char:
    return cell._replace(data=unicodedata.normalize("NFC", cell.data + char))


def _unpair(line: dict[int, Char], x: int) -> None:
    """About to write over the right half of a wide character at ``x``: its
    left half goes blank, as in tmux (stock pyte keeps it, hiding ``x``)."""
    left = line.get(x - 1)
    if left is not None and left.data and wcwidth(left.data[0]) == 2:
        line[x - 1] = left._replace(data=" ")


def _orphan(line: dict[int, Char], x: int) -> None:
    """The left half of the wide character whose right half is at ``x`` was
    just overwritten: the right half goes blank, as in tmux."""
    line[x] = line[x]._replace(data=" ")


class FastScreen(pyte.Screen):
    """``pyte.Screen`` with a run-at-a-time ``draw`` and memoised SGR, and
    where stock pyte's screen parts from a real terminal's, the terminal's
    behaviour (each override says how)."""

    def __init__(self, columns: int, lines: int) -> None:
        self._cells: dict[Char, Cells] = {}
        self._protected_cells: dict[Char, Cells] = {}
        self.protecting = False  # DECSCA: new cells are ProtectedChar
        self._sgr: dict[tuple[Char, tuple[int, ...], bool], Char] = {}
        super().__init__(columns, lines)

    @property
    def default_char(self) -> Char:
        # Stock builds a new Char for every blank line it creates.
        return _REVERSE_BLANK if mo.DECSCNM in self.mode else _BLANK

    def index(self) -> None:
        # Stock's, without building a Margins tuple per line feed.
        margins = self.margins
        top, bottom = (0, self.lines - 1) if margins is None else margins
        if self.cursor.y == bottom:
            self.dirty.update(range(self.lines))
            buffer = self.buffer
            for y in range(top, bottom):
                buffer[y] = buffer[y + 1]
            buffer.pop(bottom, None)
        else:
            self.cursor_down()

    def cursor_up(self, count: int | None = None) -> None:
        # The top margin stops the cursor only from inside the region (stock
        # pyte pulls a cursor above it down to it).
        top = 0 if self.margins is None else self.margins.top
        y = self.cursor.y
        self.cursor.y = max(y - (count or 1), top if y >= top else 0)

    def cursor_down(self, count: int | None = None) -> None:
        # Likewise the bottom margin, for line feeds too.
        bottom = self.lines - 1 if self.margins is None else self.margins.bottom
        y = self.cursor.y
        self.cursor.y = min(y + (count or 1), bottom if y <= bottom else self.lines - 1)

    def _cells_for(self, attrs: Char) -> Cells:
        known = self._protected_cells if self.protecting else self._cells
        cells = known.get(attrs)
        if cells is None:
            if len(known) >= _CACHE_LIMIT:
                known.clear()
            cells = known[attrs] = Cells(attrs, self.protecting)
        return cells

    def draw(self, data: str) -> None:
        charset = self.g1_charset if self.charset else self.g0_charset
        if charset is not _IDENTITY_MAP:
            data = data.translate(charset)

        cursor = self.cursor
        columns = self.columns
        autowrap = mo.DECAWM in self.mode
        insert = mo.IRM in self.mode
        cells = self._cells_for(cursor.attrs)
        buffer = self.buffer
        match_run = _SINGLE_WIDTH_RUN.match
        n = len(data)
        i = 0
        while i < n:
            run = None if insert else match_run(data, i)
            if run is None:
                self._draw_char(data[i], cells, autowrap, insert)
                i += 1
                continue
            end = run.end()
            while i < end:
                x = cursor.x
                if x == columns:
                    if autowrap:
                        self.dirty.add(cursor.y)
                        self.carriage_return()
                        self.linefeed()
                        x = cursor.x
                    else:
                        x = cursor.x = columns - 1
                line = buffer[cursor.y]
                if not line.get(x, _BLANK).data:
                    _unpair(line, x)
                if x > columns:
                    # Left beyond the edge by a resize: stock writes one
                    # invisible cell, then wraps on the next character.
                    line[x] = cells[data[i]]
                    cursor.x = columns
                    i += 1
                    continue
                stop = min(end, i + columns - x)
                if stop - i == 1:
                    line[x] = cells[data[i]]
                else:
                    line.update(
                        zip(
                            range(x, x + stop - i),
                            map(cells.__getitem__, data[i:stop]),
                            strict=False,
                        )
                    )
                after = x + stop - i
                if not line.get(after, _BLANK).data:
                    _orphan(line, after)
                cursor.x = after
                i = stop
        self.dirty.add(cursor.y)

    def _draw_char(self, char: str, cells: Cells, autowrap: bool, insert: bool) -> None:
        """Stock pyte's per-character draw, but as a terminal draws: a control
        character is skipped (stock stops drawing the rest of the text), a
        zero-width one joins the cell before it on the same line, and a wide
        character that does not fit in the last column wraps first."""
        cursor = self.cursor
        char_width = wcwidth(char)
        if char_width < 0:
            return
        if cursor.x == self.columns and char_width > 0:
            if autowrap:
                self.dirty.add(cursor.y)
                self.carriage_return()
                self.linefeed()
            else:
                cursor.x -= char_width
        elif char_width == 2 and cursor.x == self.columns - 1 and autowrap:
            self.carriage_return()
            self.linefeed()
        if insert and char_width > 0:
            self.insert_characters(char_width)

        line = self.buffer[cursor.y]
        if char_width > 0:
            if not line.get(cursor.x, _BLANK).data:
                _unpair(line, cursor.x)
            if not line.get(cursor.x + char_width, _BLANK).data:
                _orphan(line, cursor.x + char_width)
        if char_width == 1:
            line[cursor.x] = cells[char]
        elif char_width == 2:
            line[cursor.x] = cells[char]
            if cursor.x + 1 < self.columns:
                line[cursor.x + 1] = cells[""]
        elif cursor.x:
            last = line[cursor.x - 1]
            if not last.data and cursor.x > 1:  # the right half of a wide character
                line[cursor.x - 2] = _joined(line[cursor.x - 2], char)
            else:
                line[cursor.x - 1] = _joined(last, char)
        if char_width > 0:
            cursor.x = min(cursor.x + char_width, self.columns)

    def select_graphic_rendition(self, *attrs: int) -> None:
        # The result depends on the current attributes, the parameters and,
        # through default_char, reverse-video mode: nothing else.
        key = (self.cursor.attrs, attrs, mo.DECSCNM in self.mode)
        known = self._sgr.get(key)
        if known is not None:
            self.cursor.attrs = known
            return
        super().select_graphic_rendition(*attrs)
        if len(self._sgr) >= _CACHE_LIMIT:
            self._sgr.clear()
        self._sgr[key] = self.cursor.attrs

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        if how in (0, 1, 2):  # stock pyte fails on any other value
            super().erase_in_line(how, private)

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        # Stock pyte fails on other values, and takes 3 (clear the
        # scrollback, as xterm and tmux do) to clear the screen.
        if how in (0, 1, 2):
            super().erase_in_display(how, *args, **kwargs)

    def set_margins(self, top: int | None = None, bottom: int | None = None) -> None:
        # As tmux: a missing bottom is the last line (stock pyte keeps the
        # old one), and resetting the margins homes the cursor too.
        lines = self.lines
        upper = min(max(top or 1, 1), lines) - 1
        lower = min(max(bottom or lines, 1), lines) - 1
        if upper >= lower:
            return
        self.margins = Margins(upper, lower) if top or bottom else None
        self.cursor.x = self.cursor.y = 0  # home, not the origin's: tmux's

    def insert_characters(self, count: int | None = None) -> None:
        # Stock pyte keeps the cell pushed off the right edge, and DCH
        # brings it back.
        super().insert_characters(count)
        line = self.buffer[self.cursor.y]
        for x in range(self.columns, self.columns + (count or 1) + 1):
            line.pop(x, None)

    def cursor_position(self, line: int | None = None, column: int | None = None) -> None:
        # In origin mode a row past the margins stops at the bottom one, as
        # in tmux; stock pyte ignores the whole move.
        if self.margins is not None and mo.DECOM in self.mode:
            line = min((line or 1) + self.margins.top, self.margins.bottom + 1)
        self.cursor.x = (column or 1) - 1
        self.cursor.y = (line or 1) - 1
        self.ensure_hbounds()
        self.ensure_vbounds()

    def _lines_bottom(self) -> int:
        """The last line IL and DL move: the bottom margin's, or, from
        outside the margins, the screen's (tmux; stock pyte does nothing)."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        return bottom if top <= self.cursor.y <= bottom else self.lines - 1

    def insert_lines(self, count: int | None = None) -> None:
        # The cursor keeps its column, as in tmux; stock pyte returns it to
        # the first one.
        count = count or 1
        y = self.cursor.y
        buffer = self.buffer
        self.dirty.update(range(y, self.lines))
        for row in range(self._lines_bottom(), y - 1, -1):
            if row - count >= y and row - count in buffer:
                buffer[row] = buffer[row - count]
            else:
                buffer.pop(row, None)

    def delete_lines(self, count: int | None = None) -> None:
        # Stock pyte also leaves a line in place when the one that should
        # move up into it is blank.
        count = count or 1
        y = self.cursor.y
        bottom = self._lines_bottom()
        buffer = self.buffer
        self.dirty.update(range(y, self.lines))
        for row in range(y, bottom + 1):
            if row + count <= bottom and row + count in buffer:
                buffer[row] = buffer[row + count]
            else:
                buffer.pop(row, None)

    def alignment_display(self) -> None:
        # DECALN also resets the margins and homes the cursor, in tmux and
        # xterm; stock pyte leaves both.
        super().alignment_display()
        self.margins = None
        self.cursor.x = self.cursor.y = 0

    def next_line(self) -> None:
        """NEL: a new line at the first column (stock pyte's only returns
        to it in newline mode)."""
        self.index()
        self.carriage_return()

    def cursor_to_line(self, line: int | None = None) -> None:
        if mo.DECOM in self.mode and self.margins is None:
            # Stock pyte asserts here; origin mode without margins is the
            # whole screen.
            self.cursor.y = (line or 1) - 1
            self.ensure_vbounds()
            return
        super().cursor_to_line(line)


def _tolerant(method: Callable[..., Any]) -> tuple[Callable[..., Any], int, bool]:
    """A CSI handler, how many positional parameters it takes (-1: any) and
    whether it accepts ``private=``."""
    function = getattr(method, "__func__", None)
    if function is None:
        return (method, *_signature_shape(method, bound=False))
    return (method, *_signature_shape(function, bound=True))


@functools.cache
def _signature_shape(function: Callable[..., Any], bound: bool) -> tuple[int, bool]:
    positional = 0
    private = False
    parameters = list(inspect.signature(function).parameters.values())
    for p in parameters[1:] if bound else parameters:
        if p.kind is p.VAR_POSITIONAL:
            positional = -1
        elif p.kind is p.VAR_KEYWORD or p.name == "private":
            private = True
        elif positional >= 0 and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional, private


# One match at the current position: the group that matched says what it
# is. Sequences are cut as the DEC/ECMA-48 parser of a real terminal (tmux,
# xterm) cuts them: a CSI is parameters, intermediates and a final byte, and
# one nothing here implements is consumed whole, never printed.
_TOKEN = re.compile(
    r"(?P<text>[^\x00\x07-\x0f\x18\x1a\x1b\x7f]+)"
    r"|\x1b\[(?P<private>\??)(?P<params>[0-9;]*)(?P<final>[@-~])"
    r"|(?P<control>[\x07-\x0f])"
    r"|\x1b\](?P<osc>[^\x07\x18\x1a\x1b\x9c]*)(?:\x07|\x9c|\x1b\\|[\x18\x1a]|(?=\x1b))"
    # Any other CSI; CAN, SUB or ESC abandon it, C0 controls inside run.
    r"|\x1b\[(?P<csi>[^\x18\x1a\x1b@-~]*)(?:(?P<csi_final>[@-~])|[\x18\x1a]|(?=\x1b))"
    r"|\x1b(?P<esc_inter>[\x20-\x2f]+)(?P<esc_final>[\x30-\x7e])"
    # DCS, SOS, PM, APC and screen's title string: consumed to their end.
    r"|\x1bP[^\x1b]*(?:\x1b[^\\][^\x1b]*)*\x1b\\"
    r"|\x1b[X^_k][^\x18\x1a\x1b]*(?:\x1b\\|[\x18\x1a]|(?=\x1b))"
    r"|\x1b(?P<escape>[\x30-\x4f\x51-\x57\x59-\x5a\x5c\x60-\x6a\x6c-\x7e])"
    r"|(?P<ignored>[\x00\x7f\x18\x1a]+)"  # a run at once: a stream of NULs is one match
)
# A sequence cut off by the end of a feed; it waits for the rest. Strings
# (DCS and the like, or an OSC too long to be a title) are dropped as they
# come instead: a sixel image can be megabytes.
_UNFINISHED = re.compile(r"\x1b(?:\[[^\x18\x1a\x1b@-~]*|\][^\x07\x18\x1a\x1b\x9c]*|[\x20-\x2f]*)\Z")
_STRING_START = re.compile(r"\x1b(?:(?P<dcs>P)|[X^_k])")
_DCS_END = re.compile(r"\x1b\\")
_STRING_END = re.compile(r"\x1b\\|[\x18\x1a]|(?=\x1b)")
_OSC_END = re.compile(r"\x1b\\|[\x07\x18\x1a\x9c]|(?=\x1b)")
_OSC_LIMIT = 4096
# A CSI's parameter bytes once its controls have run: a private marker,
# numbers with ';' and ':' separators, intermediates.
_CSI_BODY = re.compile(r"(?P<marker>[<-?]?)(?P<params>[0-9:;]*)(?P<inter>[ -/]*)")
# Finals that take a '?' marker: DECSET/DECRST, DECSED, DECSEL. Others with
# one (``CSI ? 5 A``, ``CSI ? 1 r``) do not mean what the final alone means.
_PRIVATE_FINALS = frozenset("hlJK")
# What the stream dispatches beyond stock pyte's table, if the screen has it.
_EXTRA_CSI = {
    "S": "scroll_up",
    "T": "scroll_down",
    "b": "repeat_last",
    "s": "save_cursor",
    "u": "restore_cursor",
    "Z": "back_tab",
    "`": "cursor_to_column",  # HPA
}


def sgr_parameters(raw: str) -> tuple[int, ...]:
    """SGR parameters as pyte's ``select_graphic_rendition`` takes them.

    ITU T.416 colon forms become their semicolon equivalents (``38:2::r:g:b``
    and ``38:2:r:g:b`` are ``38;2;r;g;b``; ``4:3``, a curly underline, is
    ``4``; ``4:0`` is ``24``); underline colours (``58``, ``59``), which a
    ``Char`` has no place for, are dropped in either form, and so are colon
    groups nothing can show.
    """
    out: list[int] = []
    groups = raw.split(";")
    i = 0
    while i < len(groups):
        group = groups[i]
        i += 1
        if ":" not in group:
            n = min(int(group or 0), 9999)
            if n in (38, 48, 58):  # a colour follows: 5;N or 2;R;G;B
                kind = groups[i] if i < len(groups) else ""
                end = i + (2 if kind == "5" else 4 if kind == "2" else 1)
                if n != 58:
                    out += [n, *(min(int(p or 0), 9999) for p in groups[i:end] if ":" not in p)]
                i = end
            elif n == 21:  # double underline
                out.append(4)
            elif n != 59:
                out.append(n)
            continue
        parts = [int(p) if p else -1 for p in group.split(":")]
        first = parts[0]
        if first == 4 and len(parts) == 2 and parts[1] >= 0:
            out.append(4 if parts[1] else 24)
        elif first in (38, 48) and len(parts) >= 3 and parts[1] == 5 and 0 <= parts[2] <= 255:
            out += [first, 5, parts[2]]
        elif first in (38, 48) and len(parts) >= 5 and parts[1] == 2:
            rgb = parts[2:5] if len(parts) == 5 else parts[3:6]
            if len(rgb) == 3 and all(0 <= c <= 255 for c in rgb):
                out += [first, 2, *rgb]
    return tuple(out)


class FastStream(pyte.ByteStream):
    """``pyte.ByteStream`` that parses whole sequences per regex match."""

    escape = {**pyte.ByteStream.escape, "E": "next_line"}

    def attach(self, screen: pyte.Screen) -> None:
        super().attach(screen)  # checks the screen has every handler
        self._screen = screen
        names = {**self.csi, **_EXTRA_CSI}
        self._csi_table = {
            final: _tolerant(getattr(screen, name))
            for final, name in names.items()
            if hasattr(screen, name)
        }
        self._escape_table = {code: getattr(screen, name) for code, name in self.escape.items()}
        self._basic_table = {code: getattr(screen, name) for code, name in self.basic.items()}
        self._parsed_params: dict[str, tuple[int, ...]] = {}
        self._sgr_params: dict[str, tuple[int, ...]] = {}
        self._pending = ""  # the start of a sequence the next feed finishes
        self._string_end: re.Pattern[str] | None = None  # in a string being dropped
        self._last_text = ""  # what REP repeats the end of, if nothing came since

    def detach(self, screen: pyte.Screen) -> None:
        if screen is getattr(self, "_screen", None):
            self.listener = None

    @property
    def at_rest(self) -> bool:
        """True between sequences: no escape sequence is half parsed."""
        return not self._pending and self._string_end is None

    @property
    def repeatable(self) -> str:
        """The character REP would repeat now ("" if a sequence came since
        the last text)."""
        return self._last_text[-1:]

    @repeatable.setter
    def repeatable(self, char: str) -> None:
        self._last_text = char

    def feed(self, data: bytes) -> None:  # type: ignore[override]
        text = self.utf8_decoder.decode(data) if self.use_utf8 else "".join(map(chr, data))
        self.feed_text(text)

    def feed_text(self, data: str) -> None:
        if self.listener is None:
            raise RuntimeError("Listener is not set")
        if self._pending:
            data, self._pending = self._pending + data, ""
        offset = 0 if self._string_end is None else self._skip_string(data, 0)
        screen = self._screen
        draw = screen.draw
        csi_table = self._csi_table
        match = _TOKEN.match
        parsed = self._parsed_params
        sgr_params = self._sgr_params
        last_text = self._last_text
        length = len(data)
        while offset < length:
            m = match(data, offset)
            if m is None:  # an ESC: cut off by the end of the data, or stray
                offset = self._unfinished(data, offset)
                last_text = ""
                continue
            offset = m.end()
            kind = m.lastgroup
            if kind == "text":
                last_text = m.group("text")
                draw(last_text)
                continue
            if kind == "final":
                final, raw, private = m.group("final", "params", "private")
                if private:
                    if final in _PRIVATE_FINALS:
                        self._dispatch(final, self._params(raw), private=True)
                elif final == "m":
                    params = sgr_params.get(raw) or self._sgr(raw)
                    if params:
                        screen.select_graphic_rendition(*params)
                elif final == "b":
                    # tmux (3.3) repeats an ASCII character only.
                    if last_text and " " <= last_text[-1] <= "~":
                        self._dispatch(final, self._params(raw)[:1], last_text[-1])
                else:
                    entry = csi_table.get(final)
                    if entry is not None:
                        params = parsed.get(raw) or self._params(raw)
                        method, positional, _ = entry
                        if positional >= 0 and len(params) > positional:
                            params = params[:positional]
                        method(*params)
            elif kind == "control":
                self._basic_table[m.group("control")]()
            elif kind == "osc":
                code, _, param = m.group("osc").partition(";")
                if code in ("0", "1"):
                    screen.set_icon_name(param)
                if code in ("0", "2"):
                    screen.set_title(param)
            elif kind == "csi" or kind == "csi_final":
                self._other_csi(m.group("csi"), m.group("csi_final"))
            elif kind == "esc_final":
                self._escape_with(m.group("esc_inter"), m.group("esc_final"))
            elif kind == "escape":
                handler = self._escape_table.get(m.group("escape"))
                if handler is not None:
                    handler()
            # Anything else (NUL, DEL, CAN, SUB, a string) does nothing.
            last_text = ""
        self._last_text = last_text

    def _params(self, raw: str) -> tuple[int, ...]:
        parsed = self._parsed_params
        params = parsed.get(raw)
        if params is None:
            params = tuple(min(int(p or 0), 9999) for p in raw.split(";"))
            if len(parsed) >= _CACHE_LIMIT:
                parsed.clear()
            parsed[raw] = params
        return params

    def _sgr(self, raw: str) -> tuple[int, ...]:
        known = self._sgr_params.get(raw)
        if known is None:
            if len(self._sgr_params) >= _CACHE_LIMIT:
                self._sgr_params.clear()
            known = self._sgr_params[raw] = sgr_parameters(raw)
        return known

    def _dispatch(
        self, final: str, params: tuple[int, ...], char: str = "", private: bool = False
    ) -> None:
        entry = self._csi_table.get(final)
        if entry is None:
            return
        method, positional, takes_private = entry
        if positional >= 0 and len(params) > positional:
            params = params[:positional]
        if char:
            method(char, *params)
        elif not private:
            method(*params)
        elif takes_private:
            method(*params, private=True)

    def _other_csi(self, body: str, final: str | None) -> None:
        """A CSI the fast branch does not take: controls inside it run, then
        it is dispatched if it is one we know, else dropped whole."""
        for c in body:
            if c < " ":
                handler = self._basic_table.get(c)
                if handler is not None:
                    handler()
        if final is None:
            return  # abandoned by CAN, SUB or ESC
        m = _CSI_BODY.fullmatch("".join(c for c in body if " " <= c < "\x7f"))
        if m is None or len(m.group("params")) > 63:
            return
        marker, raw, inter = m.group("marker", "params", "inter")
        if ":" in raw:
            if not marker and not inter and final == "m":
                params = self._sgr(raw)
                if params:
                    self._screen.select_graphic_rendition(*params)
        elif not marker and not inter and final != "b":  # a control ran: nothing to repeat
            self._dispatch(final, self._params(raw))
        elif marker == "?" and not inter and final in _PRIVATE_FINALS:
            self._dispatch(final, self._params(raw), private=True)
        elif inter == '"' and not marker and final == "q":
            protect = getattr(self._screen, "select_character_protection", None)
            if protect is not None:
                protect(*self._params(raw)[:1])

    def _escape_with(self, intermediates: str, final: str) -> None:
        """``ESC ( 0`` and the like. Line drawing is honoured in UTF-8 too,
        as terminals do and ncurses expects; charsets other than ``0`` and
        ``B``, ``ESC %`` and G2/G3 are ignored, as tmux does."""
        if intermediates in ("(", ")") and final in "0B":
            self._screen.define_charset(final, intermediates)
        elif intermediates == "#" and final == "8":
            self._screen.alignment_display()

    def _unfinished(self, data: str, offset: int) -> int:
        """Where to go on from an ESC the token expression did not match: a
        sequence cut off by the end of the data waits there for the next
        feed (a string is dropped as it comes); a stray ESC is dropped."""
        start = _STRING_START.match(data, offset)
        if start is not None:
            self._string_end = _DCS_END if start.group("dcs") else _STRING_END
            return self._skip_string(data, start.end())
        if _UNFINISHED.match(data, offset) is None:
            return offset + 1
        if len(data) - offset > _OSC_LIMIT and data.startswith("\x1b]", offset):
            self._string_end = _OSC_END  # a title nobody can read: drop it
            return len(data)
        self._pending = data[offset:]
        return len(data)

    def _skip_string(self, data: str, offset: int) -> int:
        """Past the end of the string being dropped, or to the end of the
        data (keeping a last ESC: it may start the terminator)."""
        assert self._string_end is not None
        end = self._string_end.search(data, offset)
        if end is None:
            if data.endswith("\x1b"):
                self._pending = "\x1b"
            return len(data)
        self._string_end = None
        return end.end()
