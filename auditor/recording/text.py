"""What a terminal session printed, as searchable text: escape sequences stripped.

The input arrives in arbitrary chunks, so an escape sequence, a UTF-8
character, a CR LF pair or a line being edited with backspaces may be cut in
two: ``TerminalText`` gives out whole lines and keeps the unfinished one as
``carry``, prepended to the next chunk. The carry is
plain bytes so the index can store it between extraction passes.

A full-screen program (vim, less, top) seldom prints a line end: it moves
the cursor to each row. A cursor move to another row ends a line here as a
line end does, and a move to the right is a space, so a search hit is the
row of the screen that matched, not everything painted since the last
newline.
"""

from __future__ import annotations

import re

from auditor.recording.escapes import ESCAPE, complete_end
from auditor.recording.format import Stream

# Cursor moves that leave the row (CUU, CUD, CNL, CPL, CUP, HVP, VPA, VPR, and
# IND, NEL, RI): each ends a line. CUF (forward) is a gap between words.
_ROW_MOVE = re.compile(rb"\x1b(?:\[[0-9;]*[ABEFHfde]|[DEM])")
_FORWARD = re.compile(rb"\x1b\[[0-9]*C")
_LINE_END = re.compile(rb"\r+\n")
_BACKSPACED = re.compile(rb"[^\x08\n]\x08")
_CONTROLS = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]+")  # runs: a stream of NULs is one match
MAX_LINE = 1 << 16

TEXT_STREAMS = frozenset({Stream.OUTPUT, Stream.STDERR})


class TerminalText:
    def __init__(self, carry: bytes = b"") -> None:
        self.carry = carry

    def feed(self, data: bytes) -> str:
        buf = self.carry + data if self.carry else data
        cut = _safe_end(buf)
        self.carry = buf[cut:]
        return _clean(buf[:cut])

    def carry_has_text(self) -> bool:
        """Whether the held-back bytes show anything (not only escape sequences)."""
        return bool(_clean(self.carry).strip())

    def finish(self) -> str:
        tail, self.carry = self.carry, b""
        return _clean(tail)


def _safe_end(buf: bytes) -> int:
    """Where the complete part of ``buf`` ends."""
    # Before an unfinished escape or UTF-8 character (both of non-line-end
    # bytes, so the line ends below are the same with or without them).
    cut = complete_end(buf)
    while cut and buf[cut - 1] == 0x0D:  # CR: an LF may follow in the next chunk
        cut -= 1
    # Whole lines only, so a backspace can still erase what came before it on its
    # line; a line longer than MAX_LINE goes out anyway.
    line_end = max(buf.rfind(b"\n", 0, cut), buf.rfind(b"\r", 0, cut)) + 1
    for move in _ROW_MOVE.finditer(buf, line_end, cut):
        line_end = move.end()
    return line_end if cut - line_end < MAX_LINE else cut


def _clean(raw: bytes) -> str:
    if b"\x1b" in raw:
        raw = ESCAPE.sub(b"", _FORWARD.sub(b" ", _ROW_MOVE.sub(b"\n", raw)))
    # CR CR LF is what a tty's onlcr makes of CR LF: one line end on screen.
    raw = _LINE_END.sub(b"\n", raw).replace(b"\r", b"\n")
    while b"\x08" in raw:
        stripped = _BACKSPACED.sub(b"", raw)
        if stripped == raw:
            break
        raw = stripped
    return _CONTROLS.sub(b"", raw).decode("utf-8", "replace")
