"""Table columns at their content's width while the table has room; a cut cell ends in `…`.

A ``DataTable`` column with a fixed width cuts its cells silently, and a cut can
change what a cell says: ``node.example.com:2222`` in 20 cells read as
``node.example.com:2``, a port that looks real. So every column takes its
content's width (Textual's auto width); only when the columns together are
wider than the table do the ``give`` columns (the long, free-text ones) give
way, down to ``least`` cells each, and a cell of theirs that no longer fits
ends in ``…`` (every cell is ``no_wrap`` with ellipsis overflow: a wrapped
cell in a one-line row would show its first line as if it were all of it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def cut_with_ellipsis(text: Text) -> Text:
    """``text`` set to end in ``…`` when its column is narrower than it (in place)."""
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _width(cell: object) -> int:
    plain = cell.plain if isinstance(cell, Text) else str(cell)
    if "\n" in plain:
        return max(map(cell_len, plain.split("\n")))
    return cell_len(plain)


def fit_columns(
    table: DataTable[Any], give: Sequence[str], least: Mapping[str, int] | int = 12
) -> None:
    """Size ``table``'s columns to its width now (call after rows change and on resize).

    ``give`` names the columns that give way, first to last; ``least`` is how narrow
    each may get (per column key, or one figure for all).
    """
    room = table.scrollable_content_region.width
    if room <= 0 or not table.columns:
        return
    pad = 2 * table.cell_padding
    natural = {str(key.value): column.label.cell_len for key, column in table.columns.items()}
    # The table's own store, row by row: get_column's per-cell lookups cost 10 times more.
    for row in table._data.values():
        for key, cell in row.items():
            name = str(key.value)
            natural[name] = max(natural[name], _width(cell))
    widths = dict(natural)
    excess = sum(w + pad for w in widths.values()) - room
    for name in give:
        if excess <= 0:
            break
        if name not in widths:
            continue
        floor = least if isinstance(least, int) else least.get(name, 12)
        cut = min(excess, max(0, widths[name] - floor))
        widths[name] -= cut
        excess -= cut
    changed = False
    for key, column in table.columns.items():
        width = widths[str(key.value)]
        auto = width == natural[str(key.value)]
        if column.auto_width != auto or column.width != width or column.content_width != width:
            # content_width too: DataTable only ever grows it, even over a clear().
            column.auto_width = auto
            column.width = column.content_width = width
            changed = True
    if changed:
        # DataTable has no public call to resize a column: recompute its virtual size
        # (the horizontal scrollbar goes once the columns fit) and drop rendered rows.
        table._require_update_dimensions = True
        table._clear_caches()
        table.refresh()
