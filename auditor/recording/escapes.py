"""Escape sequences in recorded bytes: what a whole one is, what an unfinished one is.

Output and input arrive in arbitrary chunks, so an escape sequence or a UTF-8
character may be cut between two of them. Everything that cuts a stream
(searchable text, tail, the player's title, the player's keys) asks here
where the complete part of a chunk ends, so the pending tail is carried over
to the next chunk instead of being taken for text.
"""

from __future__ import annotations

import re

# A whole escape sequence in a program's output.
ESCAPE = re.compile(
    rb"\x1b(?:"
    rb"\[[0-?]*[ -/]*[@-~]"  # CSI
    rb"|\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC, ended by BEL or ST
    rb"|[PX^_][\s\S]*?\x1b\\"  # DCS, SOS, PM, APC
    rb"|[ -/]+[0-~]"  # charset designation and friends
    rb"|[0-OQ-WYZ\\`-~]"  # two-byte escapes (not the introducers above)
    rb")"
)
# The start of one the next chunk may finish: a CSI without its final byte,
# an OSC without BEL or ST (or with only the ST's ESC), a DCS and friends
# without ST, an ESC with only intermediate bytes (or nothing) after it.
UNFINISHED = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[PX^_][\s\S]*|[ -/]*)\Z")

# What a terminal sends as keys (the player's input): SS3 is a key there, and
# any byte after ESC is Alt+key, so the two-byte set differs from output's.
KEY_SEQUENCE = re.compile(
    rb"\x1b(?:"
    rb"\[[0-?]*[ -/]*[@-~]"  # CSI (arrows, replies to DA/DSR)
    rb"|O[ -~]"  # SS3 (arrows in application cursor mode)
    rb"|\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC reply (colour queries)
    rb"|[PX^_][\s\S]*?\x1b\\"  # DCS and friends (DECRQSS replies)
    rb"|[ -~]"  # Alt+key and other two-byte escapes
    rb")"
)
KEY_UNFINISHED = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*|O|\][^\x07\x1b]*|[PX^_][\s\S]*)?\Z")

LONGEST_ESCAPE = 4096  # an unfinished escape longer than this is garbage, not a tail


def unfinished_at(buf: bytes, at: int) -> bool:
    """Whether the ESC at ``at`` starts a sequence that runs to the end of
    ``buf`` unfinished."""
    return ESCAPE.match(buf, at) is None and UNFINISHED.match(buf, at) is not None


def _pending_escape(buf: bytes) -> int:
    """Where an unfinished escape sequence at the end of ``buf`` starts (or ``len(buf)``)."""
    end = len(buf)
    floor = max(0, end - LONGEST_ESCAPE)
    esc = buf.rfind(b"\x1b", floor)
    if esc < 0 or not unfinished_at(buf, esc):
        return end
    # The last ESC may be the first half of an OSC's or a DCS's ST: then the
    # sequence that ST would end is the pending one.
    before = buf.rfind(b"\x1b", floor, esc)
    if before >= 0 and unfinished_at(buf, before):
        return before
    return esc


def _pending_utf8(buf: bytes, end: int) -> int:
    """Where a UTF-8 character cut at ``end`` starts (or ``end``)."""
    for back in range(1, min(4, end) + 1):
        byte = buf[end - back]
        if byte < 0x80:
            break
        if byte >= 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            if back < need:
                return end - back
            break
    return end


def complete_end(buf: bytes) -> int:
    """Where the complete part of ``buf`` ends: before an unfinished escape
    sequence or a partial UTF-8 character at its end."""
    cut = _pending_escape(buf)
    if cut == len(buf):
        cut = _pending_utf8(buf, cut)
    return cut


def split_pending(buf: bytes) -> tuple[bytes, bytes]:
    """``buf`` as its complete part and the pending tail the next chunk may finish."""
    cut = complete_end(buf)
    return buf[:cut], buf[cut:]
