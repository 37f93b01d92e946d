"""Full-text search over what sessions printed (SQLite FTS5).

Users type words, not FTS5 syntax: ``rm -rf /tmp`` must not be a syntax
error. Every word becomes a quoted phrase (so ``/etc/passwd`` matches the
tokens ``etc passwd`` in a row) and all of them must match; a trailing
``*`` keeps its meaning of a prefix search.

Hits come newest first by walking the FTS rowids downwards, which FTS5 does
without scoring or sorting every match: a word found in every session costs
no more than a rare one. Whose each match is, and the session's user, node
and start a filter asks about, come from ``session_text_rows`` by rowid:
reading them from the FTS table would read each match's text first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from auditor.errors import UsageError
from auditor.index.linetimes import time_at
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


def run(conn: sqlite3.Connection, sql: str, params: Sequence[object]) -> sqlite3.Cursor:
    try:
        return conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc):
            raise UsageError(f"--search: cannot search for that: {exc}") from None
        raise


def newest_matches(
    conn: sqlite3.Connection, q: str, clauses: list[str], params: list[object], limit: int | None
) -> list[tuple[str, int]]:
    """``(session id, newest matching rowid)``, newest first, each session once, of the
    matches whose ``session_text_rows r`` pass ``clauses``.

    One pass down the matches, one lookup by rowid each (about a microsecond
    at 100,000 sessions), ending at the page: a narrow filter under a word
    every session holds reads thousands of matches, not their text.
    """
    where = "".join(f" AND {c}" for c in clauses)
    cur = run(
        conn,
        "SELECT r.session_id, r.id FROM session_text f CROSS JOIN session_text_rows r "
        f"ON r.id = f.rowid WHERE f.session_text MATCH ?{where} ORDER BY f.rowid DESC",
        [fts_query(q), *params],
    )
    found: dict[str, int] = {}
    while rows := cur.fetchmany(BATCH):
        for sid, rowid in rows:
            found.setdefault(sid, rowid)
            if limit is not None and len(found) >= limit:
                return list(found.items())
    return list(found.items())


def snippets(conn: sqlite3.Connection, q: str, rowids: list[int]) -> dict[int, tuple[float, str]]:
    """``(t, matching line)`` for many FTS rows of one query, evaluating the query once:
    the line is FTS5's ``snippet()``'s, its time that of where the line is in the row.

    One statement per row re-runs the MATCH each time, which for a prefix
    query means merging every matching term's doclist again (~4 ms a row at
    100,000 sessions). The rowid range walked here is at most the one
    ``matching_sessions`` already walked; ``snippet()`` runs only for the
    wanted rows, and their text and line times are read only for them.
    """
    if not rowids:
        return {}
    wanted = ", ".join(str(int(r)) for r in rowids)
    # ``t`` inside the CASE too: reading it for a row between reads its text first.
    rows = run(
        conn,
        f"SELECT rowid, CASE WHEN rowid IN ({wanted}) THEN t END, CASE WHEN rowid IN ({wanted}) "
        "THEN snippet(session_text, 0, ?, ?, '…', 24) END, "
        f"CASE WHEN rowid IN ({wanted}) THEN text END, CASE WHEN rowid IN ({wanted}) "
        "THEN (SELECT r.times FROM session_text_rows r WHERE r.id = session_text.rowid) END "
        "FROM session_text WHERE session_text MATCH ? AND rowid BETWEEN ? AND ?",
        [MARK_START, MARK_END, fts_query(q), min(rowids), max(rowids)],
    )
    found: dict[int, tuple[float, str]] = {}
    for rowid, t, snippet, text, times in rows:
        if snippet is None:
            continue
        line = matching_line(snippet)
        # The snippet is the row's text with marks (and "…" where it was cut):
        # the first place that text stands is where the line was printed.
        plain = line.replace(MARK_START, "").replace(MARK_END, "").strip("…").strip()
        at = _line_at(text, plain, whole=not line.startswith("…")) if plain else -1
        found[rowid] = (time_at(times, at, float(t)) if at >= 0 else float(t), line)
    return found


def _line_at(text: str, plain: str, whole: bool) -> int:
    """Where ``plain`` first stands in ``text``: at a line's start if it is one
    (``ok`` is in ``look`` too), else anywhere; -1 if nowhere."""
    if whole:
        if text.startswith(plain):
            return 0
        at = text.find("\n" + plain)
        if at >= 0:
            return at + 1
    return text.find(plain)


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
    bounds = conn.execute(
        "SELECT min(id), max(id) FROM session_text_rows WHERE session_id = ?", [session_id]
    ).fetchone()
    if bounds[0] is None:
        return []
    # The matches in the session's rowid range, kept if they are the session's:
    # MATCH once, where ``rowid IN (...)`` would evaluate it again for each row.
    rows = run(
        conn,
        "SELECT f.t, highlight(f.session_text, 0, ?, ?), f.text, r.times FROM session_text f "
        "CROSS JOIN session_text_rows r ON r.id = f.rowid WHERE f.session_text MATCH ? "
        "AND f.rowid BETWEEN ? AND ? AND r.session_id = ? ORDER BY f.rowid",
        [MARK_START, MARK_END, fts_query(q), *bounds, session_id],
    )
    hits: list[tuple[float, str]] = []
    for t, marked, text, times in rows:
        # The marks add no line ends: line k of the marked text is line k of the
        # text, which says where it starts and so when it was printed.
        at = 0
        for line, plain in zip(marked.split("\n"), text.split("\n"), strict=True):
            if MARK_START in line:
                hits.append((time_at(times, at, float(t)), line.strip()))
                if len(hits) >= limit:
                    return hits
            at += len(plain) + 1
    return hits
