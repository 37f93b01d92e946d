"""The PostgreSQL index schema, built and upgraded by numbered migrations.

The same tables as the SQLite schema (``schema.py``), in PostgreSQL's
types: reserved words (``user``, ``end``, ``time``) quoted, ids in the
"C" collation so a prefix is a range, and the searchable text as a
``tsvector`` the index builds from its own tokens (``terms.py``). Each
migration runs in one transaction with the row that records it, under an
advisory lock, so proxies starting together migrate once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

Migration = Callable[[psycopg.Connection], None]
LOCK = 0x61756469  # pg_advisory_xact_lock key: "audi"


def _m001_initial(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE sessions (
            id TEXT COLLATE "C" PRIMARY KEY,
            connection_id TEXT,
            "user" TEXT,
            login TEXT,
            node TEXT,
            port INTEGER,
            cluster TEXT,
            client_addr TEXT,
            kind TEXT,
            start DOUBLE PRECISION NOT NULL,
            "end" DOUBLE PRECISION,
            status TEXT NOT NULL CHECK (status IN ('live', 'ended', 'interrupted')),
            exit_status INTEGER,
            exit_signal TEXT,
            bytes_in BIGINT NOT NULL DEFAULT 0,
            bytes_out BIGINT NOT NULL DEFAULT 0,
            command TEXT,
            recording_path TEXT,
            owner TEXT,
            updated DOUBLE PRECISION,
            recording_hash TEXT,
            text_offset BIGINT NOT NULL DEFAULT 0,
            text_seq BIGINT NOT NULL DEFAULT 0,
            text_t DOUBLE PRECISION NOT NULL DEFAULT 0,
            text_carry BYTEA,
            text_carry_t DOUBLE PRECISION,
            text_done INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    conn.execute("CREATE INDEX sessions_start ON sessions (start, id)")
    conn.execute("CREATE INDEX sessions_live ON sessions (status) WHERE status = 'live'")
    conn.execute("CREATE INDEX sessions_text_pending ON sessions (id) WHERE text_done = 0")
    conn.execute('CREATE INDEX sessions_user ON sessions ("user", start)')
    conn.execute("CREATE INDEX sessions_node ON sessions (node, start)")
    conn.execute("CREATE INDEX sessions_end ON sessions (\"end\") WHERE status != 'live'")
    conn.execute(
        """
        CREATE TABLE failures (
            id TEXT COLLATE "C" PRIMARY KEY,
            "time" DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            "user" TEXT,
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
    conn.execute('CREATE INDEX failures_time ON failures ("time")')
    conn.execute('CREATE INDEX failures_kind ON failures (kind, "time")')
    # One row per stretch of a session's output; id order is indexing order,
    # so "newest first" is "highest id first", as with FTS5's rowid.
    conn.execute(
        """
        CREATE TABLE session_text (
            id BIGSERIAL PRIMARY KEY,
            session_id TEXT COLLATE "C" NOT NULL,
            t DOUBLE PRECISION NOT NULL,
            text TEXT NOT NULL,
            terms TSVECTOR NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX session_text_terms ON session_text USING GIN (terms)")
    conn.execute("CREATE INDEX session_text_session ON session_text (session_id, id)")


def _m002_commands(conn: psycopg.Connection) -> None:
    # The commands users ran (as in schema.py's 003_commands), with their terms.
    conn.execute("ALTER TABLE sessions ADD COLUMN commands_done INTEGER NOT NULL DEFAULT 0")
    conn.execute(
        "CREATE INDEX sessions_commands_pending ON sessions (id) "
        "WHERE commands_done = 0 AND status != 'live'"
    )
    conn.execute(
        """
        CREATE TABLE commands (
            id BIGSERIAL PRIMARY KEY,
            session_id TEXT COLLATE "C" NOT NULL,
            t DOUBLE PRECISION NOT NULL,
            "time" DOUBLE PRECISION NOT NULL,
            line TEXT NOT NULL,
            context TEXT NOT NULL,
            "user" TEXT,
            login TEXT,
            node TEXT,
            terms TSVECTOR NOT NULL
        )
        """
    )
    conn.execute('CREATE INDEX commands_time ON commands ("time")')
    conn.execute("CREATE INDEX commands_session ON commands (session_id, t)")
    conn.execute('CREATE INDEX commands_user ON commands ("user", "time")')
    conn.execute('CREATE INDEX commands_node ON commands (node, "time")')
    conn.execute("CREATE INDEX commands_terms ON commands USING GIN (terms)")


def _m003_terminations(conn: psycopg.Connection) -> None:
    # As schema.py's 004_terminations: who asked for a live session to end, and why.
    conn.execute("ALTER TABLE sessions ADD COLUMN terminated_by TEXT")
    conn.execute("ALTER TABLE sessions ADD COLUMN termination_reason TEXT")
    conn.execute(
        "CREATE INDEX sessions_terminate ON sessions (id) "
        "WHERE status = 'live' AND terminated_by IS NOT NULL"
    )


def _m004_live(conn: psycopg.Connection) -> None:
    # Live sessions seen from other machines: each proxy copies the bytes its
    # live recordings gain into live_chunks (with a NOTIFY), and renews a lease
    # that tells the others it still runs. Both are transient, so UNLOGGED: no
    # WAL for a copy of what the spool holds (a crashed server empties them).
    conn.execute(
        """
        CREATE UNLOGGED TABLE live_chunks (
            session_id TEXT COLLATE "C" NOT NULL,
            "offset" BIGINT NOT NULL,
            data BYTEA NOT NULL,
            -- where the writer's flush ended with these bytes: the .idx entry
            end_t DOUBLE PRECISION NOT NULL,
            end_seq BIGINT NOT NULL,
            PRIMARY KEY (session_id, "offset")
        )
        """
    )
    # lz4 where the server has it: terminal output compresses well, quickly.
    if conn.execute(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
        "AND 'lz4' = ANY(enumvals)"
    ).fetchone():
        conn.execute("ALTER TABLE live_chunks ALTER COLUMN data SET COMPRESSION lz4")
    # Who follows which live session from elsewhere: only those are published.
    conn.execute(
        """
        CREATE UNLOGGED TABLE live_watch (
            session_id TEXT COLLATE "C" NOT NULL,
            viewer TEXT NOT NULL,
            expires DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (session_id, viewer)
        )
        """
    )
    conn.execute(
        """
        CREATE UNLOGGED TABLE proxy_leases (
            owner TEXT PRIMARY KEY,
            address TEXT,
            renewed DOUBLE PRECISION NOT NULL,
            expires DOUBLE PRECISION NOT NULL
        )
        """
    )


def _m005_text_filters(conn: psycopg.Connection) -> None:
    # As schema.py's 005_text_rows: who, where and when beside each stretch of
    # text, copied from its session, so a filtered search is one scan of
    # session_text (the planner may AND the text's GIN index with one of these,
    # or walk a filter's rows newest first) and never a join after matching.
    conn.execute(
        'ALTER TABLE session_text ADD COLUMN "user" TEXT, ADD COLUMN node TEXT, '
        "ADD COLUMN start DOUBLE PRECISION"
    )
    conn.execute(
        'UPDATE session_text t SET "user" = s."user", node = s.node, start = s.start '
        "FROM sessions s WHERE s.id = t.session_id"
    )
    conn.execute('CREATE INDEX session_text_user ON session_text ("user", id)')
    conn.execute("CREATE INDEX session_text_node ON session_text (node, id)")
    conn.execute("CREATE INDEX session_text_start ON session_text (start)")


def _m006_signed_anchors(conn: psycopg.Connection) -> None:
    # As schema.py's 006_signed_anchors: the anchor as the sealing proxy signed it.
    conn.execute(
        "ALTER TABLE sessions ADD COLUMN anchor_statement TEXT, "
        "ADD COLUMN anchor_signature TEXT, ADD COLUMN anchor_key TEXT"
    )


def _m007_line_times(conn: psycopg.Connection) -> None:
    # As schema.py's 007_line_times: when each line of a stretch was printed.
    conn.execute("ALTER TABLE session_text ADD COLUMN times TEXT")


def _m008_reviews(conn: psycopg.Connection) -> None:
    # As schema.py's 008_reviews: reviews, views and holds (auditor.index.marks).
    conn.execute(
        """
        CREATE TABLE reviews (
            id BIGSERIAL PRIMARY KEY,
            session_id TEXT COLLATE "C" NOT NULL,
            reviewer TEXT NOT NULL,
            "time" DOUBLE PRECISION NOT NULL,
            note TEXT,
            t DOUBLE PRECISION
        )
        """
    )
    conn.execute('CREATE INDEX reviews_session ON reviews (session_id, "time")')
    conn.execute("CREATE INDEX reviews_reviewer ON reviews (reviewer, session_id)")
    conn.execute(
        """
        CREATE TABLE views (
            id BIGSERIAL PRIMARY KEY,
            session_id TEXT COLLATE "C" NOT NULL,
            viewer TEXT NOT NULL,
            what TEXT NOT NULL,
            "time" DOUBLE PRECISION NOT NULL
        )
        """
    )
    conn.execute('CREATE INDEX views_session ON views (session_id, "time")')
    conn.execute(
        """
        CREATE TABLE holds (
            session_id TEXT COLLATE "C" PRIMARY KEY,
            held_by TEXT NOT NULL,
            reason TEXT NOT NULL,
            "time" DOUBLE PRECISION NOT NULL
        )
        """
    )


MIGRATIONS: list[tuple[str, Migration]] = [
    ("001_initial", _m001_initial),
    ("002_commands", _m002_commands),
    ("003_terminations", _m003_terminations),
    ("004_live", _m004_live),
    ("005_text_filters", _m005_text_filters),
    ("006_signed_anchors", _m006_signed_anchors),
    ("007_line_times", _m007_line_times),
    ("008_reviews", _m008_reviews),
]


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations this database has not seen; returns their names."""
    with conn.transaction():
        # Two first starts at once would both try to create the table: one waits.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK])
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
            "applied DOUBLE PRECISION)"
        )
    applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    ran = []
    for name, step in MIGRATIONS:
        if name in applied:
            continue
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK])
            # Another process may have migrated while we waited for the lock.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = %s", [name]).fetchone():
                continue
            step(conn)
            conn.execute("INSERT INTO _migrations VALUES (%s, %s)", [name, time.time()])
        ran.append(name)
    return ran
