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
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.errors import AuditorError
from auditor.recording.format import RecordingError
from auditor.recording.reader import IndexEntry, RecordingReader
from auditor.recording.text import TEXT_STREAMS, TerminalText

if TYPE_CHECKING:
    from auditor.index.store import SessionIndex

log = logging.getLogger("auditor.index")

CHUNK_CHARS = 32_000  # one FTS row: small enough for cheap snippets, few rows per session
BATCH_CHARS = 4_000_000  # commit this much text at a time from a long recording
LIVE_INTERVAL = 3.0


def extract_text(index: SessionIndex, session_id: str, *, in_transaction: bool = False) -> int:
    """Index the new text of one session; with ``in_transaction`` the caller commits."""
    conn = index.conn
    row = conn.execute(
        "SELECT recording_path, status, text_offset, text_seq, text_t, text_carry, text_done "
        "FROM sessions WHERE id = ?",
        [session_id],
    ).fetchone()
    if row is None:
        raise AuditorError(f"unknown session ID {session_id!r}")
    path, status, offset, seq, t, carry, done = row
    if not path or done:
        return 0
    reader = RecordingReader(Path(path))
    entries = reader.index()
    start = IndexEntry(offset or reader.header_len, t, seq)
    cursor = reader.cursor_at(start, strict=entries[-1].offset)
    text = TerminalText(carry or b"")
    final = status != "live"
    added = 0
    chunks: list[tuple[float, str]] = []
    pieces: list[str] = []
    size = 0
    first_t: float | None = None
    pending = 0

    def cut() -> None:
        nonlocal pieces, size, first_t, pending
        if pieces:
            chunks.append((first_t or 0.0, "".join(pieces)))
            pending += size
        pieces, size, first_t = [], 0, None

    for rec in cursor.poll():
        if rec.stream not in TEXT_STREAMS:
            continue
        piece = text.feed(rec.data)
        if not piece:
            continue
        if first_t is None:
            first_t = rec.t
        pieces.append(piece)
        size += len(piece)
        if size >= CHUNK_CHARS:
            cut()
        if pending >= BATCH_CHARS:
            # Commit what we have; the carry matches the cursor after this record.
            offset = _store(
                index,
                session_id,
                offset,
                cursor.offset,
                cursor.seq,
                cursor.t,
                text.carry,
                False,
                chunks,
                in_transaction,
            )
            if offset is None:
                return added
            added += pending
            chunks, pending = [], 0
    final = final or cursor.sealed
    if final:
        tail = text.finish()
        if tail:
            if first_t is None:
                first_t = cursor.t
            pieces.append(tail)
            size += len(tail)
    cut()
    if chunks or final or cursor.offset != offset:
        done_at = _store(
            index,
            session_id,
            offset,
            cursor.offset,
            cursor.seq,
            cursor.t,
            text.carry,
            final,
            chunks,
            in_transaction,
        )
        if done_at is not None:
            added += pending
    return added


def _store(
    index: SessionIndex,
    session_id: str,
    expected: int,
    offset: int,
    seq: int,
    t: float,
    carry: bytes,
    done: bool,
    chunks: list[tuple[float, str]],
    in_transaction: bool,
) -> int | None:
    """Write chunks and the new position; ``None`` if another extractor got there first."""
    conn = index.conn
    if not in_transaction:
        conn.execute("BEGIN IMMEDIATE")
    try:
        now = conn.execute("SELECT text_offset FROM sessions WHERE id = ?", [session_id]).fetchone()
        if now is None or now[0] != expected:
            if not in_transaction:
                conn.execute("ROLLBACK")
            return None
        conn.executemany(
            "INSERT INTO session_text (text, session_id, t) VALUES (?, ?, ?)",
            [(text, session_id, ct) for ct, text in chunks],
        )
        conn.execute(
            "UPDATE sessions SET text_offset = ?, text_seq = ?, text_t = ?, text_carry = ?, "
            "text_done = ? WHERE id = ?",
            [offset, seq, t, carry or None, int(done), session_id],
        )
    except BaseException:
        if not in_transaction:
            conn.execute("ROLLBACK")
        raise
    if not in_transaction:
        conn.execute("COMMIT")
    return offset


def extract_pending(index: SessionIndex) -> int:
    """One pass: live sessions' new text, and ended sessions not finished yet."""
    ids = [
        r[0]
        for r in index.conn.execute(
            "SELECT id FROM sessions WHERE text_done = 0 AND recording_path IS NOT NULL"
        )
    ]
    added = 0
    for sid in ids:
        try:
            added += extract_text(index, sid)
        except RecordingError as exc:
            # A missing or damaged file will not get better: stop retrying it.
            log.warning("session %s: no searchable text: %s", sid, exc)
            index.conn.execute("UPDATE sessions SET text_done = 1 WHERE id = ?", [sid])
        except sqlite3.OperationalError as exc:
            log.warning("session %s: text extraction postponed: %s", sid, exc)
    return added


class TextWorker:
    """A thread that runs ``extract_pending`` every few seconds and when woken."""

    def __init__(self, data_dir: Path, interval: float = LIVE_INTERVAL) -> None:
        self.data_dir = data_dir
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="auditor-text", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        from auditor.index.store import SessionIndex

        index = SessionIndex.open(self.data_dir, background_text=False)
        try:
            while not self._stop.is_set():
                self._wake.wait(self.interval)
                self._wake.clear()
                try:
                    index.index_pending_text()
                except Exception:
                    log.exception("text extraction pass failed")
            # A last pass so sessions that just ended are searchable at once.
            index.index_pending_text()
        finally:
            index.close()
