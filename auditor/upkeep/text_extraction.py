"""Moving what sessions printed into the full-text index, off the proxy's path.

Extraction resumes where the last pass stopped: the session row keeps the
record boundary (offset, seq, t) and the stripper's unfinished bytes, so a
live session costs only its new output every few seconds and a restart
never indexes text twice. The write is guarded by the stored offset inside
``BEGIN IMMEDIATE``, so two extractors (threads or processes) racing on one
session add its text once.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from auditor.errors import AuditorError
from auditor.index.linetimes import LineTimes
from auditor.index.rows import TextRow
from auditor.recording.format import WITHHELD_TEXT, RecordingError, Stream
from auditor.recording.reader import IndexEntry, RecordingReader
from auditor.recording.text import TEXT_STREAMS, TerminalText
from auditor.upkeep.recovery import recording_elsewhere

if TYPE_CHECKING:
    from auditor.index.api import SessionIndex

log = logging.getLogger("auditor.index")

CHUNK_CHARS = 32_000  # one FTS row: small enough for cheap snippets, few rows per session
BATCH_CHARS = 4_000_000  # commit this much text at a time from a long recording
WITHHELD = WITHHELD_TEXT.encode()  # where typed input was withheld (auditor.proxy.redact)


class _Rows:
    """Text cut into FTS rows of about CHUNK_CHARS, each with the time it starts at
    and when each of its lines was printed (``auditor.index.linetimes``)."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.size = 0
        self.t: float | None = None
        self.times = LineTimes()
        self.rows: list[TextRow] = []
        self.chars = 0

    def add(self, piece: str, t: float, since: float | None = None) -> None:
        """Whole lines all printed by ``t``, the first begun at ``since`` if earlier."""
        # Pieces are whole lines (TerminalText holds back the unfinished one), so a
        # cut between pieces never splits a word.
        if self.t is None:
            self.t = t if since is None else since
        self.times.add(self.size, t, max(1, piece.count("\n")))
        self.pieces.append(piece)
        self.size += len(piece)
        if self.size >= CHUNK_CHARS:
            self.cut()

    def cut(self) -> None:
        if self.pieces:
            self.rows.append(TextRow(self.t or 0.0, "".join(self.pieces), self.times.encode()))
            self.chars += self.size
        self.pieces, self.size, self.t, self.times = [], 0, None, LineTimes()

    def take(self) -> list[TextRow]:
        rows, self.rows, self.chars = self.rows, [], 0
        return rows


def extract_text(index: SessionIndex, session_id: str) -> int:
    """Index the new text of one session; inside the index's transaction it joins it."""
    state = index.text_state(session_id)
    if state is None:
        raise AuditorError(f"unknown session ID {session_id!r}")
    if state.recording is None or state.done:
        return 0
    offset, carry_t = state.offset, state.carry_t
    reader = RecordingReader(state.recording)
    start = IndexEntry(offset or reader.header_len, state.t, state.seq)
    cursor = reader.cursor_at(start, strict=reader.index()[-1].offset)
    text = TerminalText(state.carry)
    rows = _Rows()
    added = 0

    def store(final: bool) -> bool:
        nonlocal offset, added
        chars = rows.chars
        new = replace(
            state,
            offset=cursor.offset,
            seq=cursor.seq,
            t=cursor.t,
            carry=text.carry,
            carry_t=carry_t,
            done=final,
        )
        if not index.store_text(session_id, offset, new, rows.take()):
            return False
        offset = cursor.offset
        added += chars
        return True

    for rec in cursor.poll():
        if rec.stream in TEXT_STREAMS or rec.stream is Stream.WITHHELD:
            # Withheld input is searchable as where it happened: its marker, never a key.
            piece = text.feed(WITHHELD if rec.stream is Stream.WITHHELD else rec.data)
            if piece:
                # Its lines were all printed by this record; the first began where
                # the held-back text did, if there was any.
                rows.add(piece, rec.t, since=carry_t)
                carry_t = None
            if carry_t is None and text.carry and text.carry_has_text():
                # The held-back line's time is when its first text came, not a
                # cursor move or colour change before it.
                carry_t = rec.t
        if rows.chars >= BATCH_CHARS and not store(final=False):
            return added  # another extractor is on this session
    final = state.status != "live" or cursor.sealed
    if final:
        tail = text.finish()
        if tail:
            rows.add(tail, cursor.t, since=carry_t)
        carry_t = None
    rows.cut()
    if rows.rows or final or cursor.offset != offset:
        store(final)
    return added


def insert_ended_with_text(
    index: SessionIndex, session_id: str, status: str = "ended", **fields: object
) -> int:
    """A whole finished session (an import, a bundled sample, a migrated one) and
    its searchable text in one transaction: a failure leaves no half-indexed
    session behind. Returns the characters indexed."""
    with index.transaction():
        index.insert_ended(session_id, status, **fields)
        return extract_text(index, session_id) if fields.get("recording_path") else 0


def extract_pending(index: SessionIndex) -> int:
    """One pass: live sessions' new text, and ended sessions not finished yet."""
    added = 0
    for sid in index.pending_text():
        try:
            added += extract_text(index, sid)
        except RecordingError as exc:
            if _elsewhere(index, sid):
                continue  # its own proxy (or a pass after the upload) reads it
            # A missing or damaged file will not get better: stop retrying it.
            log.warning("session %s: no searchable text: %s", sid, exc)
            index.give_up_text(sid)
        except index.TRANSIENT as exc:
            log.warning("session %s: text extraction postponed: %s", sid, exc)
    return added


def _elsewhere(index: SessionIndex, session_id: str) -> bool:
    """In another machine's spool (a fleet's shared index): not ours to give up on."""
    session = index.get_session(session_id)
    return session.recording is not None and recording_elsewhere(session.recording, session.owner)
