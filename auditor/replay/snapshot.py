"""A terminal's whole state as compact bytes, and back.

Keyframes store these. Everything a later byte could depend on is kept: both
screens (cells, attributes, protection, which one is shown), cursor and saved
cursors, modes, margins, tab stops, charsets, title, the character REP would
repeat, and UTF-8 bytes still waiting for the rest of their character. The
scrollback is not: a keyframe restores the screen, and a transcript is built
by a full pass anyway.

A snapshot is only taken between escape sequences (``FastStream.at_rest``):
a sequence cut off by the end of a feed, or a string being dropped, is not
saved. Keyframe builders wait for the next record boundary instead.

Encoding: JSON (safe to load from a file anyone could have edited, unlike
pickle or marshal) of cells grouped into runs sharing a style, compressed
with zlib. An 80x24 screen of text is one to two kilobytes.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from pyte import charsets as cs
from pyte.screens import Char, Cursor, Margins, StaticDefaultDict

from auditor.errors import AuditorError
from auditor.replay.emulator import Buffer, Line, SavedCursor, Terminal, TerminalScreen
from auditor.replay.fastscreen import Cells, ProtectedChar

# 2: cells protected by DECSCA, DECSCA in the cursor state and saved
# cursors (a saved cursor keeps DECSCA where it kept autowrap), REP's
# character.
FORMAT = 2
_CHARSET_CODES = {charset: code for code, charset in cs.MAPS.items()}


class SnapshotError(AuditorError):
    """A snapshot that can't be decoded: corrupt or from another version."""


class SnapshotStale(SnapshotError):
    """A snapshot of another format version: not damage, just to be rebuilt."""


class _Styles:
    """Distinct cell styles (everything but the character, and whether the
    cell is protected from selective erase), numbered."""

    def __init__(self) -> None:
        self.index: dict[tuple[Any, ...], int] = {}

    def of(self, char: Char) -> int:
        style = (*char[1:], isinstance(char, ProtectedChar))
        number = self.index.get(style)
        if number is None:
            number = self.index[style] = len(self.index)
        return number


def _encode_line(line: Line, styles: _Styles) -> list[Any]:
    """``[default style, [x, style, text], ...]``: one run per stretch of
    adjacent cells in one style; ``text`` is a list when a cell holds other
    than one character (a wide character's stub, a combined accent)."""
    runs: list[Any] = [styles.of(line.default)]
    run: list[Any] | None = None
    next_x = -1
    for x in sorted(line):
        char = line[x]
        style = styles.of(char)
        if run is not None and x == next_x and style == run[1]:
            if isinstance(run[2], str) and len(char.data) == 1:
                run[2] += char.data
            else:
                if isinstance(run[2], str):
                    run[2] = list(run[2])
                run[2].append(char.data)
        else:
            run = [x, style, char.data if len(char.data) == 1 else [char.data]]
            runs.append(run)
        next_x = x + 1
    return runs


def _encode_buffer(buffer: Buffer | None, styles: _Styles) -> list[Any] | None:
    if buffer is None:
        return None
    return [[y, _encode_line(line, styles)] for y, line in sorted(buffer.items()) if line]


def _encode_char(char: Char, styles: _Styles) -> list[Any]:
    return [char.data, styles.of(char)]


def _encode_cursor(cursor: Cursor, styles: _Styles) -> list[Any]:
    return [cursor.x, cursor.y, cursor.hidden, _encode_char(cursor.attrs, styles)]


def _encode_savepoint(sp: SavedCursor | None, styles: _Styles) -> list[Any] | None:
    if sp is None:
        return None
    return [
        _encode_cursor(sp.cursor, styles),
        _CHARSET_CODES[sp.g0_charset],
        _CHARSET_CODES[sp.g1_charset],
        sp.charset,
        sp.origin,
        sp.protecting,
    ]


def take_snapshot(terminal: Terminal) -> bytes:
    """The terminal's state; only between escape sequences."""
    if not terminal.stream.at_rest:
        raise ValueError("can't snapshot a terminal in the middle of an escape sequence")
    screen = terminal.screen
    styles = _Styles()
    state = {
        "format": FORMAT,
        "size": [screen.columns, screen.lines],
        "buffer": _encode_buffer(screen.buffer, styles),
        "other_buffer": _encode_buffer(screen.other_buffer, styles),
        "alternate": screen.alternate,
        "cursor": _encode_cursor(screen.cursor, styles),
        "savepoints": [_encode_savepoint(sp, styles) for sp in screen.savepoints],
        "alt_saved": _encode_savepoint(screen.alt_saved, styles),
        "mode": sorted(screen.mode),
        "margins": list(screen.margins) if screen.margins is not None else None,
        "tabstops": sorted(screen.tabstops),
        "charset": [
            screen.charset,
            _CHARSET_CODES[screen.g0_charset],
            _CHARSET_CODES[screen.g1_charset],
        ],
        "title": [screen.title, screen.icon_name],
        "saved_columns": screen.saved_columns,
        "protecting": screen.protecting,
        "repeatable": terminal.stream.repeatable,
        "utf8": terminal.stream.use_utf8,
        "pending": terminal.stream.utf8_decoder.getstate()[0].hex(),
        "styles": list(styles.index),
    }
    return zlib.compress(json.dumps(state, separators=(",", ":")).encode(), 6)


def _decode_line(runs: list[Any], styles: list[Char], cells: list[Cells]) -> Line:
    line: Line = StaticDefaultDict(styles[runs[0]])
    for x, style, text in runs[1:]:
        line.update(zip(range(x, x + len(text)), map(cells[style].__getitem__, text), strict=True))
    return line


def _decode_buffer(
    screen: TerminalScreen, encoded: list[Any] | None, styles: list[Char]
) -> Buffer | None:
    if encoded is None:
        return None
    buffer = screen.new_buffer()
    # Equal cells shared, as drawing does.
    cells = [Cells(style, isinstance(style, ProtectedChar)) for style in styles]
    for y, runs in encoded:
        buffer[y] = _decode_line(runs, styles, cells)
    return buffer


def _decode_char(encoded: list[Any], styles: list[Char]) -> Char:
    data, style = encoded
    return Char(data, *styles[style][1:])  # attributes are never protected


def _decode_cursor(encoded: list[Any], styles: list[Char]) -> Cursor:
    x, y, hidden, attrs = encoded
    cursor = Cursor(x, y, _decode_char(attrs, styles))
    cursor.hidden = hidden
    return cursor


def _decode_savepoint(encoded: list[Any] | None, styles: list[Char]) -> SavedCursor | None:
    if encoded is None:
        return None
    cursor, g0, g1, charset, origin, protecting = encoded
    return SavedCursor(
        _decode_cursor(cursor, styles), cs.MAPS[g0], cs.MAPS[g1], charset, origin, protecting
    )


def restore_snapshot(blob: bytes, *, scrollback: int = 1000) -> Terminal:
    """A new terminal in the state ``take_snapshot`` saw."""
    try:
        state = json.loads(zlib.decompress(blob))
        if state["format"] != FORMAT:
            raise SnapshotStale(f"keyframe snapshot format {state['format']} is not {FORMAT}")
        return _restore(state, scrollback)
    except (zlib.error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise SnapshotError(f"corrupt keyframe snapshot ({type(exc).__name__}: {exc})") from exc


def _restore(state: dict[str, Any], scrollback: int) -> Terminal:
    cols, rows = state["size"]
    terminal = Terminal(cols, rows, scrollback=scrollback)
    screen = terminal.screen
    styles = [(ProtectedChar if style[-1] else Char)(" ", *style[:-1]) for style in state["styles"]]
    buffer = _decode_buffer(screen, state["buffer"], styles)
    if buffer is None:
        raise ValueError("no screen buffer")
    screen.buffer = buffer
    screen.other_buffer = _decode_buffer(screen, state["other_buffer"], styles)
    screen.alternate = bool(state["alternate"])
    if screen.alternate and screen.other_buffer is None:
        raise ValueError("alternate screen shown without a main screen")
    screen.cursor = _decode_cursor(state["cursor"], styles)
    screen.savepoints = []
    for encoded in state["savepoints"]:
        savepoint = _decode_savepoint(encoded, styles)
        if savepoint is None:
            raise ValueError("empty saved cursor")
        screen.savepoints.append(savepoint)
    screen.alt_saved = _decode_savepoint(state["alt_saved"], styles)
    screen.mode = set(state["mode"])
    screen.margins = None if state["margins"] is None else Margins(*state["margins"])
    screen.tabstops = set(state["tabstops"])
    screen.charset, g0, g1 = state["charset"]
    screen.g0_charset, screen.g1_charset = cs.MAPS[g0], cs.MAPS[g1]
    screen.title, screen.icon_name = state["title"]
    screen.saved_columns = state["saved_columns"]
    screen.protecting = bool(state["protecting"])
    screen.dirty.update(range(rows))
    terminal.stream.repeatable = str(state["repeatable"])[:1]
    terminal.stream.use_utf8 = bool(state["utf8"])
    terminal.stream.utf8_decoder.setstate((bytes.fromhex(state["pending"]), 0))
    return terminal
