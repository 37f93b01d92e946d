"""Strings from the audited side as ``Text``: shown exactly as typed, never read as markup.

Textual reads a ``str`` as markup in a ``DataTable`` cell, a ``Static``, a
notification and the command palette: a command typed as
``echo '[black on black]' ; rm -rf /tmp/x`` would hide its second half, and
``\\[`` would lose its backslash. Every such string goes through ``data_text``
(a new ``Text``) or ``append_data`` (onto one of ours); control characters
come out as escapes (``auditor.textsafe``), marked so that an escape is
told apart from a backslash the user typed.
"""

from __future__ import annotations

from rich.text import Text

from auditor.textsafe import visible_parts

ESCAPE_STYLE = "reverse"


def append_data(text: Text, value: str, style: str = "") -> Text:
    """``value`` onto ``text``, in ``style``; returns ``text``."""
    for part, escaped in visible_parts(value):
        text.append(part, style=f"{style} {ESCAPE_STYLE}".strip() if escaped else style)
    return text


def data_text(value: str, style: str = "") -> Text:
    """``value`` as a cell or a line of its own."""
    return append_data(Text(end=""), value, style)


def append_lines(text: Text, value: str, style: str = "") -> Text:
    """Multi-line ``value`` (a failure's raw detail) with its line breaks kept as such."""
    for i, line in enumerate(value.split("\n")):
        if i:
            text.append("\n")
        append_data(text, line, style)
    return text
