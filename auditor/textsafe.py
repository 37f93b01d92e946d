"""Text from the audited side, made safe to show on an auditor's terminal (DESIGN §13).

Logins, node names, exec requests, typed commands and failure details are
chosen by the people being audited. Printed raw, an ESC or a C1 control
in them is a command to the auditor's terminal (``\\x1b]2;owned\\x07``
retitles it, ``\\x1b[8m`` hides what follows) and a bidirectional override
(U+202E) reorders what the auditor reads. ``visible`` turns each such
character into an escape that reads as what it is (``\\x1b``, ``\\u202e``);
everything else, tabs and printable text of any script, stays as it was.

Headless: the CLI prints through it and the TUI builds its ``Text`` from
``visible_parts``. JSON output does not need it (``json.dumps`` escapes
controls and, with its default ``ensure_ascii``, every non-ASCII character).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

# C0 but tab, DEL, C1; bidi marks, embeddings, overrides and isolates;
# lone surrogates (undecodable bytes kept by surrogateescape), which would
# not even encode for printing.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]+"
)


def escape_char(c: str) -> str:
    """``\\x1b`` for a control below U+0100, ``\\u202e`` above."""
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible_parts(text: str) -> Iterator[tuple[str, bool]]:
    """``text`` in runs: (plain text, False) and (escapes of unsafe characters, True)."""
    pos = 0
    for m in _UNSAFE.finditer(text):
        if m.start() > pos:
            yield text[pos : m.start()], False
        yield "".join(escape_char(c) for c in m.group()), True
        pos = m.end()
    if pos < len(text):
        yield text[pos:], False


def visible(text: str) -> str:
    """``text`` with every character that would act on a terminal shown as an escape."""
    if not _UNSAFE.search(text):
        return text
    return "".join(part for part, _ in visible_parts(text))


def visible_lines(text: str) -> str:
    """``visible``, line breaks kept: a log record with its traceback."""
    return "\n".join(visible(line) for line in text.split("\n"))


class VisibleFormatter(logging.Formatter):
    """Log lines for the auditor's terminal (``auditor proxy``) or a log file read
    there: a node name or login quoted in a message is the audited side's."""

    def format(self, record: logging.LogRecord) -> str:
        return visible_lines(super().format(record))
