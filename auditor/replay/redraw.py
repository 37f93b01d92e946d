"""An emulated terminal's state as bytes a real terminal draws.

Playing in the user's terminal streams the recorded output as it is; after a
seek there is nothing to stream, so the screen the keyframes produced is
drawn instead: cells with their colours and attributes, the main screen
under the alternate one (so leaving vim shows the shell again), the scroll
region, the cursor and the pen that later output continues with.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyte.graphics import BG_AIXTERM, BG_ANSI, FG_AIXTERM, FG_ANSI
from pyte.screens import wcwidth

from auditor.replay.emulator import Buffer, Cell, Line, Terminal

_FG = {name: code for code, name in {**FG_ANSI, **FG_AIXTERM}.items()}
_BG = {name: code for code, name in {**BG_ANSI, **BG_AIXTERM}.items()}
_FLAGS = (
    ("bold", 1),
    ("italics", 3),
    ("underscore", 4),
    ("blink", 5),
    ("reverse", 7),
    ("strikethrough", 9),
)
ENTER_ALT = b"\x1b[?1049h"
LEAVE_ALT = b"\x1b[?1049l"


def _colour(value: str, names: dict[str, int], extended: int) -> str | None:
    if value == "default":
        return None
    code = names.get(value)
    if code is not None:
        return str(code)
    try:
        rgb = int(value, 16)
    except ValueError:
        return None
    return f"{extended};2;{rgb >> 16};{(rgb >> 8) & 0xFF};{rgb & 0xFF}"


def sgr(cell: Cell) -> bytes:
    """The SGR sequence that sets the pen to ``cell``'s attributes, from a reset."""
    params = ["0"]
    params += [str(code) for name, code in _FLAGS if getattr(cell, name)]
    for value, names, extended in ((cell.fg, _FG, 38), (cell.bg, _BG, 48)):
        colour = _colour(value, names, extended)
        if colour:
            params.append(colour)
    return f"\x1b[{';'.join(params)}m".encode()


def _pen(cell: Cell) -> tuple[object, ...]:
    return (cell.fg, cell.bg, *(getattr(cell, name) for name, _ in _FLAGS))


def draw_row(line: Line | None, width: int) -> bytes:
    """One row's cells up to ``width`` (the last blanks left out), from a
    reset pen, leaving it reset; a wide character that would cross
    ``width`` is drawn as a blank."""
    if not line:
        return b""
    cells = [line[x] for x in range(width)]
    end = width
    while end and cells[end - 1].data in (" ", "") and _pen(cells[end - 1]) == _BLANK:
        end -= 1
    if not end:
        return b""
    out: list[bytes] = []
    pen: tuple[object, ...] = _BLANK
    skip = False
    for x, cell in enumerate(cells[:end]):
        if skip:
            skip = False
            continue
        if _pen(cell) != pen:
            pen = _pen(cell)
            out.append(sgr(cell))
        data = cell.data or " "
        skip = wcwidth(data[0]) == 2
        if skip and x + 1 >= width:
            data, skip = " ", False
        out.append(data.encode("utf-8", "replace"))
    out.append(b"\x1b[0m")
    return b"".join(out)


def draw_buffer(buffer: Buffer, cols: int, rows: int) -> bytes:
    """Clear the screen and draw every row of ``buffer``, leaving the pen reset."""
    out = [b"\x1b[0m\x1b[H\x1b[2J"]
    for y in range(rows):
        row = draw_row(buffer.get(y), cols)
        if row:
            out.append(f"\x1b[{y + 1};1H".encode() + row)
    return b"".join(out)


def draw_clipped(terminal: Terminal, rows: Iterable[int], width: int, height: int) -> bytes:
    """The top-left ``width`` x ``height`` of the screen, for a terminal too
    small to show all of it: each of ``rows`` (those inside) erased and
    redrawn, then the cursor where it is (hidden if it is outside)."""
    screen = terminal.screen
    out: list[bytes] = []
    for y in sorted(rows):
        if y < height:
            out.append(f"\x1b[{y + 1};1H\x1b[2K".encode())
            out.append(draw_row(screen.buffer.get(y), min(width, terminal.cols)))
    cursor = terminal.cursor
    if cursor.visible and cursor.x < width and cursor.y < height:
        out.append(f"\x1b[{cursor.y + 1};{cursor.x + 1}H\x1b[?25h".encode())
    else:
        out.append(b"\x1b[?25l")
    return b"".join(out)


_BLANK = _pen(Cell(" "))


def redraw(terminal: Terminal) -> bytes:
    """Bytes that bring a terminal showing anything to ``terminal``'s state.

    Assumes the real terminal is on its main screen (leave the alternate
    one first) and at least as large as the recorded one.
    """
    screen = terminal.screen
    cols, rows = terminal.cols, terminal.rows
    out = []
    if terminal.in_alternate_screen and screen.other_buffer is not None:
        out.append(draw_buffer(screen.other_buffer, cols, rows))
        saved = screen.alt_saved.cursor if screen.alt_saved is not None else screen.cursor
        out.append(f"\x1b[{saved.y + 1};{min(saved.x, cols - 1) + 1}H".encode())
        out.append(ENTER_ALT)
    out.append(draw_buffer(screen.buffer, cols, rows))
    if screen.margins is not None:
        out.append(f"\x1b[{screen.margins.top + 1};{screen.margins.bottom + 1}r".encode())
    cursor = terminal.cursor
    out.append(f"\x1b[{cursor.y + 1};{cursor.x + 1}H".encode())
    out.append(b"\x1b[?25h" if cursor.visible else b"\x1b[?25l")
    out.append(sgr(screen.cursor.attrs))
    return b"".join(out)
