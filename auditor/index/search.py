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
from auditor.index.terms import MARK_END, MARK_START

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


def run(conn: sqlite3.Connection, sql: str, params: list[object]) -> sqlite3.Cursor:
    try:
        return conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc):
            raise UsageError(f"--search: cannot search for that: {exc}") from None
        raise


def matching_sessions(conn: sqlite3.Connection, q: str) -> Iterator[list[tuple[str, int]]]:
    """Batches of ``(session id, newest matching rowid)``, newest first, each session once."""
    cur = run(
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


def snippets(conn: sqlite3.Connection, q: str, rowids: list[int]) -> dict[int, tuple[float, str]]:
    """``(t, matching line)`` for many FTS rows of one query, evaluating the query once.

    One statement per row re-runs the MATCH each time, which for a prefix
    query means merging every matching term's doclist again (~4 ms a row at
    100,000 sessions). The rowid range walked here is at most the one
    ``matching_sessions`` already walked; ``snippet()`` runs only for the
    wanted rows.
    """
    if not rowids:
        return {}
    wanted = ", ".join(str(int(r)) for r in rowids)
    rows = run(
        conn,
        f"SELECT rowid, t, CASE WHEN rowid IN ({wanted}) "
        "THEN snippet(session_text, 0, ?, ?, '…', 24) END FROM session_text "
        "WHERE session_text MATCH ? AND rowid BETWEEN ? AND ?",
        [MARK_START, MARK_END, fts_query(q), min(rowids), max(rowids)],
    )
    return {rowid: (float(t), matching_line(text)) for rowid, t, text in rows if text is not None}


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
    rows = run(
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
