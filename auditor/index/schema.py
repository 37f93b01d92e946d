"""The index schema, built and upgraded by numbered migrations.

Each migration runs in its own transaction together with the row that
records it, so a crash mid-upgrade leaves the previous schema intact and the
next start simply runs it again. Append new migrations; never edit old ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

    # Imported only when a migration runs: sqlite-utils (with click and
    # pluggy behind it) is a third of `auditor sessions`' start-up otherwise.
    import sqlite_utils

Migration = Callable[["sqlite_utils.Database"], None]


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            connection_id TEXT,
            user TEXT,
            login TEXT,
            node TEXT,
            port INTEGER,
            cluster TEXT,
            client_addr TEXT,
            kind TEXT,
            start REAL NOT NULL,
            end REAL,
            status TEXT NOT NULL CHECK (status IN ('live', 'ended', 'interrupted')),
            exit_status INTEGER,
            exit_signal TEXT,
            bytes_in INTEGER NOT NULL DEFAULT 0,
            bytes_out INTEGER NOT NULL DEFAULT 0,
            command TEXT,
            recording_path TEXT,
            -- "host:pid:process start" of the writer, to tell a crashed one from a live one
            owner TEXT,
            updated REAL,
            -- "seq:tag" of the chain's last record when the session ended: verify's anchor
            recording_hash TEXT,
            -- where text extraction stopped: a record boundary and the stripper's carry
            text_offset INTEGER NOT NULL DEFAULT 0,
            text_seq INTEGER NOT NULL DEFAULT 0,
            text_t REAL NOT NULL DEFAULT 0,
            text_carry BLOB,
            text_done INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute("CREATE INDEX sessions_start ON sessions (start)")
    db.execute("CREATE INDEX sessions_live ON sessions (status) WHERE status = 'live'")
    db.execute("CREATE INDEX sessions_text_pending ON sessions (id) WHERE text_done = 0")
    db.execute("CREATE INDEX sessions_user ON sessions (user, start)")
    db.execute("CREATE INDEX sessions_node ON sessions (node, start)")
    db.execute(
        """
        CREATE TABLE failures (
            id TEXT PRIMARY KEY,
            time REAL NOT NULL,
            kind TEXT NOT NULL,
            user TEXT,
            login TEXT,
            node TEXT,
            port INTEGER,
            cluster TEXT,
            client_addr TEXT,
            connection_id TEXT,
            message TEXT NOT NULL,
            hint TEXT,
            retries INTEGER NOT NULL DEFAULT 0,
            detail TEXT,
            extra TEXT
        )
        """
    )
    db.execute("CREATE INDEX failures_time ON failures (time)")
    db.execute("CREATE INDEX failures_kind ON failures (kind, time)")
    # One row per stretch of a session's output; rowid order is indexing order,
    # so "newest first" needs no sort.
    db.execute(
        "CREATE VIRTUAL TABLE session_text USING fts5("
        "text, session_id UNINDEXED, t UNINDEXED, tokenize = 'unicode61')"
    )


def _m002_carry_time(db: sqlite_utils.Database) -> None:
    # Extraction holds back an unfinished line between passes; a search hit in it
    # should point at when it was printed, not when the line was finished.
    db.execute("ALTER TABLE sessions ADD COLUMN text_carry_t REAL")


def _m003_commands(db: sqlite_utils.Database) -> None:
    # The commands users ran, read off the screen after a session ends; who and
    # where are copied in so a filtered, newest-first list needs no join.
    db.execute("ALTER TABLE sessions ADD COLUMN commands_done INTEGER NOT NULL DEFAULT 0")
    db.execute(
        "CREATE INDEX sessions_commands_pending ON sessions (id) "
        "WHERE commands_done = 0 AND status != 'live'"
    )
    db.execute(
        """
        CREATE TABLE commands (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            t REAL NOT NULL,
            time REAL NOT NULL,
            line TEXT NOT NULL,
            context TEXT NOT NULL,
            user TEXT,
            login TEXT,
            node TEXT
        )
        """
    )
    db.execute("CREATE INDEX commands_time ON commands (time)")
    db.execute("CREATE INDEX commands_session ON commands (session_id, t)")
    db.execute("CREATE INDEX commands_user ON commands (user, time)")
    db.execute("CREATE INDEX commands_node ON commands (node, time)")
    # rowid = commands.id
    db.execute("CREATE VIRTUAL TABLE command_text USING fts5(line, tokenize = 'unicode61')")


def _m004_terminations(db: sqlite_utils.Database) -> None:
    # An auditor's request to end a live session, and after it ended who did and
    # why; proxies look for requests among their live sessions every flush.
    db.execute("ALTER TABLE sessions ADD COLUMN terminated_by TEXT")
    db.execute("ALTER TABLE sessions ADD COLUMN termination_reason TEXT")
    db.execute(
        "CREATE INDEX sessions_terminate ON sessions (id) "
        "WHERE status = 'live' AND terminated_by IS NOT NULL"
    )


def _m005_text_rows(db: sqlite_utils.Database) -> None:
    # Whose each stretch of text is, where an index can find it: FTS5 stores
    # session_id but cannot index it, so replacing or removing a session's text
    # and listing its hits read the whole table, and a filtered search read the
    # text of every match to learn its session. Who, where and when are copied
    # from the session so a filter costs one lookup by rowid per match.
    db.execute(
        """
        CREATE TABLE session_text_rows (
            id INTEGER PRIMARY KEY,  -- session_text's rowid
            session_id TEXT NOT NULL,
            user TEXT,
            node TEXT,
            start REAL
        )
        """
    )
    db.execute(
        "INSERT INTO session_text_rows (id, session_id, user, node, start) "
        "SELECT f.rowid, f.session_id, s.user, s.node, s.start "
        "FROM session_text f LEFT JOIN sessions s ON s.id = f.session_id"
    )
    db.execute("CREATE INDEX session_text_rows_session ON session_text_rows (session_id, id)")


def _m006_signed_anchors(db: sqlite_utils.Database) -> None:
    # The anchor as the sealing proxy signed it (auditor.recording.anchor): sessions
    # from before stay NULL, which verify reports as unsigned.
    db.execute("ALTER TABLE sessions ADD COLUMN anchor_statement TEXT")
    db.execute("ALTER TABLE sessions ADD COLUMN anchor_signature TEXT")
    db.execute("ALTER TABLE sessions ADD COLUMN anchor_key TEXT")


def _m007_line_times(db: sqlite_utils.Database) -> None:
    # When each line of a stretch of text was printed (auditor.index.linetimes), so
    # a search hit points at its line's time, not its stretch's start. Rows indexed
    # before keep NULL: their hits keep the stretch's time.
    db.execute("ALTER TABLE session_text_rows ADD COLUMN times TEXT")


def _m008_reviews(db: sqlite_utils.Database) -> None:
    # What auditors leave on a session (auditor.index.marks): reviews (never
    # edited, several a session), who viewed it how, and holds that keep it
    # past retention. Removed only with their session (prune).
    db.execute(
        """
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            reviewer TEXT NOT NULL,
            time REAL NOT NULL,
            note TEXT,
            t REAL  -- the moment cited, seconds into the recording
        )
        """
    )
    db.execute("CREATE INDEX reviews_session ON reviews (session_id, time)")
    db.execute("CREATE INDEX reviews_reviewer ON reviews (reviewer, session_id)")
    db.execute(
        """
        CREATE TABLE views (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            viewer TEXT NOT NULL,
            what TEXT NOT NULL,
            time REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX views_session ON views (session_id, time)")
    db.execute(
        """
        CREATE TABLE holds (
            session_id TEXT PRIMARY KEY,
            held_by TEXT NOT NULL,
            reason TEXT NOT NULL,
            time REAL NOT NULL
        )
        """
    )


MIGRATIONS: list[tuple[str, Migration]] = [
    ("001_initial", _m001_initial),
    ("002_carry_time", _m002_carry_time),
    ("003_commands", _m003_commands),
    ("004_terminations", _m004_terminations),
    ("005_text_rows", _m005_text_rows),
    ("006_signed_anchors", _m006_signed_anchors),
    ("007_line_times", _m007_line_times),
    ("008_reviews", _m008_reviews),
]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations this database has not seen; returns their names."""
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)")
    applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    ran = []
    db: sqlite_utils.Database | None = None
    for name, step in MIGRATIONS:
        if name in applied:
            continue
        if db is None:
            import sqlite_utils

            db = sqlite_utils.Database(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", [name]).fetchone():
                conn.execute("ROLLBACK")
                continue
            step(db)
            conn.execute("INSERT INTO _migrations VALUES (?, ?)", [name, time.time()])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        ran.append(name)
    return ran
