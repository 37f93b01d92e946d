"""Full-text search over what sessions printed (SQLite FTS5).

Users type words, not FTS5 syntax: ``rm -rf /tmp`` must not be a syntax
error. Every word becomes a quoted phrase (so ``/etc/passwd`` matches the
tokens ``etc passwd`` in a row) and all of them must match; a trailing
``*`` keeps its meaning of a prefix search.

Hits come newest first by walking the FTS rowids downwards, which FTS5 does
without scoring or sorting every match: a word found in every session costs
no more than a rare one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from auditor.errors import UsageError

MARK_START = "«"
MARK_END = "»"
BATCH = 256


def fts_query(q: str) -> str:
    parts = []
    for word in q.split():
        prefix = word.endswith("*") and word.strip("*") != ""
        body = word.rstrip("*") if prefix else word
        parts.append('"' + body.replace('"', '""') + '"' + ("*" if prefix else ""))
    if not parts:
        raise UsageError("--search: expected at least one word")
    return " ".join(parts)


def _run(conn: sqlite3.Connection, sql: str, params: list[object]) -> sqlite3.Cursor:
    try:
        return conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc):
            raise UsageError(f"--search: cannot search for that: {exc}") from None
        raise


def matching_sessions(conn: sqlite3.Connection, q: str) -> Iterator[list[tuple[str, int]]]:
    """Batches of ``(session id, newest matching rowid)``, newest first, each session once."""
    cur = _run(
        conn,
        "SELECT session_id, rowid FROM session_text WHERE session_text MATCH ? ORDER BY rowid DESC",
        [fts_query(q)],
    )
    seen: set[str] = set()
    while rows := cur.fetchmany(BATCH):
        batch = []
        for sid, rowid in rows:
            if sid not in seen:
                seen.add(sid)
                batch.append((sid, rowid))
        if batch:
            yield batch


def snippet(conn: sqlite3.Connection, q: str, rowid: int) -> tuple[float, str]:
    """``(t, matching line)`` for one FTS row."""
    row = _run(
        conn,
        "SELECT t, snippet(session_text, 0, ?, ?, '…', 24) FROM session_text "
        "WHERE session_text MATCH ? AND rowid = ?",
        [MARK_START, MARK_END, fts_query(q), rowid],
    ).fetchone()
    if row is None:
        return 0.0, ""
    return float(row[0]), matching_line(row[1])


def matching_line(text: str) -> str:
    """The line of a snippet that holds the first highlighted match."""
    at = text.find(MARK_START)
    if at < 0:
        return text.strip()
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return text[start : end if end >= 0 else len(text)].strip()


def session_hits(
    conn: sqlite3.Connection, session_id: str, q: str, limit: int
) -> list[tuple[float, str]]:
    rows = _run(
        conn,
        "SELECT t, highlight(session_text, 0, ?, ?) FROM session_text "
        "WHERE session_text MATCH ? AND session_id = ? ORDER BY rowid",
        [MARK_START, MARK_END, fts_query(q), session_id],
    )
    hits: list[tuple[float, str]] = []
    for t, text in rows:
        for line in text.splitlines():
            if MARK_START in line:
                hits.append((float(t), line.strip()))
                if len(hits) >= limit:
                    return hits
    return hits
