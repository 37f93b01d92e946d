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

from auditor.errors import UsageError
from auditor.index import terms
from auditor.index.linetimes import time_at
from auditor.index.terms import MARK_END as MARK_END  # the TUI reads the marks here
from auditor.index.terms import MARK_START as MARK_START

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


def first_hits(conn: sqlite3.Connection, q: str, rowids: list[int]) -> dict[int, tuple[float, str]]:
    """``(t, matching line)`` for many FTS rows of one query: the line of each row's
    first match and when that line was printed.

    The rows are read by rowid (no MATCH again: for a prefix query that merges
    every matching term's doclist, ~4 ms a row at 100,000 sessions) and the
    line found as the PostgreSQL engine finds it (``terms.first_hit``), so
    both show the same line. FTS5's ``snippet()`` gives no place in the text,
    and the place is what says when the line was printed.
    """
    if not rowids:
        return {}
    words = terms.parse_query(q)
    marks = ", ".join("?" * len(rowids))
    rows = conn.execute(
        "SELECT f.rowid, f.t, f.text, (SELECT r.times FROM session_text_rows r "
        f"WHERE r.id = f.rowid) FROM session_text f WHERE f.rowid IN ({marks})",
        rowids,
    )
    found: dict[int, tuple[float, str]] = {}
    for rowid, t, text, times in rows:
        hit = terms.first_hit(text, words)
        if hit is None:
            found[rowid] = (float(t), "")
        else:
            found[rowid] = (time_at(times, hit[0], float(t)), hit[1])
    return found


def session_hits(
    conn: sqlite3.Connection, session_id: str, q: str, limit: int
) -> list[tuple[float, str]]:
    words = terms.parse_query(q)
    bounds = conn.execute(
        "SELECT min(id), max(id) FROM session_text_rows WHERE session_id = ?", [session_id]
    ).fetchone()
    if bounds[0] is None:
        return []
    # The matches in the session's rowid range, kept if they are the session's:
    # MATCH once, where ``rowid IN (...)`` would evaluate it again for each row.
    rows = run(
        conn,
        "SELECT f.t, f.text, r.times FROM session_text f "
        "CROSS JOIN session_text_rows r ON r.id = f.rowid WHERE f.session_text MATCH ? "
        "AND f.rowid BETWEEN ? AND ? AND r.session_id = ? ORDER BY f.rowid",
        [fts_query(q), *bounds, session_id],
    )
    hits: list[tuple[float, str]] = []
    for t, text, times in rows:
        for at, line in terms.hit_lines(text, words):
            hits.append((time_at(times, at, float(t)), line))
            if len(hits) >= limit:
                return hits
    return hits
