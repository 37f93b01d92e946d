"""The emulated terminal, drawn cell by cell with its colours."""

from __future__ import annotations

from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from auditor.replay.emulator import Cell, Terminal

_NAMES = {"brown": "yellow", "brightbrown": "bright_yellow"}


def _colour(value: str) -> str | None:
    if value == "default":
        return None
    if value in _NAMES:
        return _NAMES[value]
    if value.startswith("bright"):
        return "bright_" + value.removeprefix("bright")
    if len(value) == 6:
        try:
            int(value, 16)
        except ValueError:
            return None
        return "#" + value
    return value


@lru_cache(maxsize=4096)
def cell_style(
    fg: str,
    bg: str,
    bold: bool,
    italics: bool,
    underscore: bool,
    strikethrough: bool,
    reverse: bool,
) -> Style:
    return Style(
        color=_colour(fg),
        bgcolor=_colour(bg),
        bold=bold or None,
        italic=italics or None,
        underline=underscore or None,
        strike=strikethrough or None,
        reverse=reverse or None,
    )


def _style(cell: Cell) -> Style:
    return cell_style(
        cell.fg,
        cell.bg,
        cell.bold,
        cell.italics,
        cell.underscore,
        cell.strikethrough,
        cell.reverse,
    )


CURSOR = Style(reverse=True)


def render_row(terminal: Terminal, y: int, cursor_x: int | None) -> Strip:
    """One row as a Strip: runs of same-styled cells become one segment."""
    segments: list[Segment] = []
    text: list[str] = []
    style: Style | None = None
    for x, cell in enumerate(terminal.row(y)):
        data = cell.data
        if not data:
            continue  # the right half of a wide character
        s = _style(cell)
        if x == cursor_x:
            s = s + CURSOR
        if s is not style and text:
            segments.append(Segment("".join(text), style))
            text = []
        style = s
        text.append(data)
    if text:
        segments.append(Segment("".join(text), style))
    return Strip(segments, terminal.cols)


def render_screen(
    terminal: Terminal, previous: list[Strip] | None = None, full: bool = True
) -> list[Strip]:
    """All rows; with ``previous`` and not ``full``, only the changed rows are re-rendered."""
    cursor = terminal.cursor
    dirty = terminal.take_dirty()
    rows = terminal.rows
    if previous is None or full or len(previous) != rows:
        dirty = set(range(rows))
        strips = [Strip.blank(terminal.cols)] * rows
    else:
        strips = list(previous)
    dirty |= {cursor.y} if cursor.y < rows else set()
    for y in dirty:
        strips[y] = render_row(terminal, y, cursor.x if cursor.visible and y == cursor.y else None)
    return strips


class TerminalView(Widget):
    """Shows the screens a playback thread renders; sized to the recording's terminal."""

    DEFAULT_CSS = """
    TerminalView { width: auto; height: auto; background: black; }
    """

    def __init__(self, cols: int = 80, rows: int = 24, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.cols = cols
        self.rows = rows
        self.strips: list[Strip] = [Strip.blank(cols)] * rows

    def show(self, strips: list[Strip], cols: int, rows: int) -> None:
        resized = (cols, rows) != (self.cols, self.rows)
        self.strips, self.cols, self.rows = strips, cols, rows
        self.refresh(layout=resized)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return self.cols

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.rows

    def render_line(self, y: int) -> Strip:
        if 0 <= y < len(self.strips):
            return self.strips[y].apply_style(self.rich_style)
        return Strip.blank(self.size.width, self.rich_style)

    @property
    def text(self) -> str:
        """What the screen shows, as text (for tests and copying)."""
        return "\n".join(strip.text.rstrip() for strip in self.strips).rstrip("\n")
