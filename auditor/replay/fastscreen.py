"""pyte, made fast enough to sit on every replay's path.

Stock pyte draws text one character at a time (a ``wcwidth`` lookup and a
``Char._replace`` per character) and parses escape sequences with a
generator that takes one ``send()`` per character; together that is under
1 MB/s. Here:

- ``FastScreen.draw`` writes runs of single-width characters into a line with
  one ``dict.update``, reusing one ``Char`` per (attributes, character);
- ``FastScreen.select_graphic_rendition`` memoises its result, which depends
  only on the current attributes, the parameters and reverse-video mode;
- ``FastStream`` matches whole CSI, OSC and two-byte ESC sequences, control
  characters and text runs with one regular expression and dispatches them
  to the same screen methods the stock parser would call. Whatever the
  expression does not cover (split sequences, C1 controls, odd
  intermediates) goes through the stock generator, so behaviour stays
  stock pyte's.

The output is stock pyte's on the same input; tests/replay/test_equivalence.py
checks that with hypothesis. The only differences are where stock pyte
raises on malformed input (too many CSI parameters, ``CSI ?...`` on a method
that takes no ``private`` flag, a non-ASCII digit in a parameter, VPA in
origin mode without margins): a recording is untrusted input, so the
sequence is dropped or clamped the way a terminal would, instead of aborting
the replay.
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
from pyte import control as ctrl
from pyte import modes as mo
from pyte.screens import Char, wcwidth

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


class Cells(dict[str, Char]):
    """Cells sharing one set of attributes, by character, built on first use."""

    __slots__ = ("style",)

    def __init__(self, attrs: Char) -> None:
        super().__init__()
        self.style: tuple[Any, ...] = tuple(attrs[1:])

    def __missing__(self, data: str) -> Char:
        cell = self[data] = Char(data, *self.style)
        return cell


class FastScreen(pyte.Screen):
    """``pyte.Screen`` with a run-at-a-time ``draw`` and memoised SGR."""

    def __init__(self, columns: int, lines: int) -> None:
        self._cells: dict[Char, Cells] = {}
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

    def _cells_for(self, attrs: Char) -> Cells:
        cells = self._cells.get(attrs)
        if cells is None:
            if len(self._cells) >= _CACHE_LIMIT:
                self._cells.clear()
            cells = self._cells[attrs] = Cells(attrs)
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
                if not self._draw_char(data[i], cells, autowrap, insert):
                    break  # stock pyte drops the rest of the text after an unprintable
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
                cursor.x = x + stop - i
                i = stop
        self.dirty.add(cursor.y)

    def _draw_char(self, char: str, cells: Cells, autowrap: bool, insert: bool) -> bool:
        """Stock pyte's per-character draw; False where it stops drawing."""
        cursor = self.cursor
        char_width = wcwidth(char)
        if cursor.x == self.columns:
            if autowrap:
                self.dirty.add(cursor.y)
                self.carriage_return()
                self.linefeed()
            elif char_width > 0:
                cursor.x -= char_width
        if insert and char_width > 0:
            self.insert_characters(char_width)

        line = self.buffer[cursor.y]
        if char_width == 1:
            line[cursor.x] = cells[char]
        elif char_width == 2:
            line[cursor.x] = cells[char]
            if cursor.x + 1 < self.columns:
                line[cursor.x + 1] = cells[""]
        elif char_width == 0 and unicodedata.combining(char):
            # Combines with the previous cell, on this line or the last one.
            if cursor.x:
                last = line[cursor.x - 1]
                line[cursor.x - 1] = last._replace(
                    data=unicodedata.normalize("NFC", last.data + char)
                )
            elif cursor.y:
                above = self.buffer[cursor.y - 1]
                last = above[self.columns - 1]
                above[self.columns - 1] = last._replace(
                    data=unicodedata.normalize("NFC", last.data + char)
                )
        else:
            return False
        if char_width > 0:
            cursor.x = min(cursor.x + char_width, self.columns)
        return True

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
        if how in (0, 1, 2, 3):  # stock pyte fails on any other value
            super().erase_in_display(how, *args, **kwargs)

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


class _TolerantCsi:
    """The screen as the stock generator sees it: CSI handlers drop surplus
    parameters and an unsupported ``private`` flag instead of raising."""

    def __init__(self, screen: pyte.Screen) -> None:
        self._screen = screen
        self._csi = set(pyte.Stream.csi.values())

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._screen, name)
        if name not in self._csi:
            return method
        target, positional, private = _tolerant(method)

        def call(*params: int, **kwargs: Any) -> Any:
            if positional >= 0 and len(params) > positional:
                params = params[:positional]
            return target(*params, **(kwargs if private else {}))

        return call


# One match at the current position: the group that matched says what it is.
_TOKEN = re.compile(
    r"(?P<text>[^\x00\x07-\x0f\x1b\x7f\x9b\x9d]+)"
    r"|\x1b\[(?P<private>\??)(?P<params>[0-9;]*)(?P<final>[@-~])"
    r"|(?P<control>[\x07-\x0f])"
    r"|\x1b\](?P<osc_code>[^RP])(?P<osc>[^\x07\x1b\x9c]*)(?:\x07|\x9c|\x1b\\)"
    r"|\x1b(?P<escape>[^\[\]#%()])"
    r"|(?P<ignored>[\x00\x7f])"
)


class FastStream(pyte.ByteStream):
    """``pyte.ByteStream`` that parses whole sequences per regex match."""

    def attach(self, screen: pyte.Screen) -> None:
        super().attach(screen)  # checks the screen has every handler
        # The fallback generator dispatches through the tolerant view.
        self.listener = _TolerantCsi(screen)  # type: ignore[assignment]
        self._initialize_parser()
        self._screen = screen
        self._csi_table = {
            final: _tolerant(getattr(screen, name)) for final, name in self.csi.items()
        }
        self._escape_table = {code: getattr(screen, name) for code, name in self.escape.items()}
        self._basic_table = {code: getattr(screen, name) for code, name in self.basic.items()}
        self._parsed_params: dict[str, tuple[int, ...]] = {}

    def detach(self, screen: pyte.Screen) -> None:
        if screen is getattr(self, "_screen", None):
            self.listener = None

    @property
    def at_rest(self) -> bool:
        """True between sequences: no escape sequence is half parsed."""
        return bool(self._taking_plain_text)

    def feed(self, data: bytes) -> None:  # type: ignore[override]
        text = self.utf8_decoder.decode(data) if self.use_utf8 else "".join(map(chr, data))
        self.feed_text(text)

    def feed_text(self, data: str) -> None:
        if self.listener is None:
            raise RuntimeError("Listener is not set")
        screen = self._screen
        draw = screen.draw
        debug = screen.debug
        csi_table = self._csi_table
        escape_table = self._escape_table
        basic_table = self._basic_table
        match = _TOKEN.match
        parsed = self._parsed_params
        resting = self._taking_plain_text
        offset = 0
        length = len(data)
        while offset < length:
            if not resting:
                resting = self._send_char(data[offset])
                offset += 1
                continue
            m = match(data, offset)
            if m is None:
                resting = self._send_char(data[offset])
                offset += 1
                continue
            offset = m.end()
            kind = m.lastgroup
            if kind == "text":
                draw(m.group("text"))
            elif kind == "final":
                final = m.group("final")
                raw = m.group("params")
                params = parsed.get(raw)
                if params is None:
                    params = tuple(min(int(p or 0), 9999) for p in raw.split(";"))
                    if len(parsed) >= _CACHE_LIMIT:
                        parsed.clear()
                    parsed[raw] = params
                entry = csi_table.get(final)
                if entry is None:
                    if m.group("private"):
                        debug(*params, private=True)
                    else:
                        debug(*params)
                    continue
                method, positional, takes_private = entry
                if positional >= 0 and len(params) > positional:
                    params = params[:positional]
                if m.group("private") and takes_private:
                    method(*params, private=True)
                else:
                    method(*params)
            elif kind == "control":
                char = m.group("control")
                if char == ctrl.SO or char == ctrl.SI:
                    if not self.use_utf8:
                        basic_table[char]()
                else:
                    basic_table[char]()
            elif kind == "osc":
                code = m.group("osc_code")
                param = m.group("osc")[1:]  # drop the ';'
                if code in "01":
                    screen.set_icon_name(param)
                if code in "02":
                    screen.set_title(param)
            elif kind == "escape":
                handler = escape_table.get(m.group("escape"))
                if handler is None:
                    debug()
                else:
                    handler()
            # kind == "ignored": NUL and DEL do nothing.
        self._taking_plain_text = resting

    def _send_char(self, char: str) -> bool:
        try:
            return bool(self._send_to_parser(char))
        except ValueError:
            # A parameter digit int() rejects (e.g. a superscript): stock
            # pyte has already reset its parser; drop the sequence.
            return True
