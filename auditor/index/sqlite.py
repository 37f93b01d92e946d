"""The embedded index: one SQLite file in WAL mode shared by every process.

The proxy writes a few rows per session (start, a byte-count update every
few seconds, end) from its index thread; the CLI, the TUI and ``tail``
read from other processes. WAL lets readers run while the writer writes,
every transaction is short, and ``busy_timeout`` rides out the rare moment
two writers meet (the proxy and ``auditor import``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError
from auditor.index import search as fts
from auditor.index.query import SQLITE, Filters, insert
from auditor.index.rows import CommandRow, TextRow
from auditor.index.schema import migrate
from auditor.index.sql_index import COMMAND_COLUMNS, TEXT_ROW_COPIES, SqlIndex

INDEX_FILE = "index.db"
BUSY_TIMEOUT_MS = 5000


class SqliteIndex(SqlIndex):
    TRANSIENT = (sqlite3.OperationalError,)
    dialect = SQLITE
    TEXT_ROWS = "session_text_rows"

    def __init__(self, data_dir: Path, conn: sqlite3.Connection) -> None:
        super().__init__(data_dir)
        self.conn = conn
        self._depth = 0  # open transactions: store_text joins one it is called inside

    @classmethod
    def connect(cls, data_dir: Path) -> SqliteIndex:
        """Open (creating and migrating) ``data_dir/index.db``."""
        path = Path(data_dir) / INDEX_FILE
        try:
            # Created 0600 before SQLite touches it: its -wal and -shm files copy the mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise AuditorError(f"{path}: cannot open the index: {exc.strerror}") from None
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise AuditorError(f"{path}: cannot open the index: {exc}") from None
        return cls(Path(data_dir), conn)

    def reopen(self) -> SqliteIndex:
        return SqliteIndex.connect(self.data_dir)

    def _close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: take the write lock up front, so no upgrade deadlocks.

        Inside another one it joins it: the outer one commits or rolls back.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0
        self.conn.execute("COMMIT")

    # Durable where it matters. WAL with synchronous=NORMAL syncs the log only at
    # checkpoints, so a power cut can roll back the last commits; FULL syncs it at
    # every commit, and with it every commit before. Only the rows that say a
    # session exists, where its recording is and that it ended pay for that: the
    # byte counts every few seconds would cost the proxy a sync each.
    @contextmanager
    def _durable(self) -> Iterator[None]:
        if self._depth:  # inside a caller's transaction: its commit decides
            yield
            return
        self.conn.execute("PRAGMA synchronous = FULL")
        try:
            yield
        finally:
            self.conn.execute("PRAGMA synchronous = NORMAL")

    def start_session(self, session_id: str | None = None, **fields: Any) -> str:
        with self._durable():
            return super().start_session(session_id, **fields)

    def update_session(self, session_id: str, **fields: Any) -> None:
        if "recording_path" not in fields and "status" not in fields:
            super().update_session(session_id, **fields)
            return
        with self._durable():  # an uploaded recording: the local copy goes next
            super().update_session(session_id, **fields)

    def end_session(self, session_id: str, *args: Any, **kwargs: Any) -> None:
        with self._durable():
            super().end_session(session_id, *args, **kwargs)

    # What only SQLite does: its connection, and full-text search in FTS5 tables
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return fts.run(self.conn, sql, params).fetchall()  # a MATCH FTS5 refuses: one line

    def _execute(self, sql: Any, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def _newest_matches(self, q: str, filters: Filters, limit: int | None) -> list[tuple[str, int]]:
        where = filters.where("r", live="session_id")
        return fts.newest_matches(self.conn, q, where.clauses, where.params, limit)

    def _hit_lines(self, q: str, found: list[tuple[str, int]]) -> dict[int, tuple[float, str]]:
        return fts.snippets(self.conn, q, [rowid for _, rowid in found])

    def _session_hits(self, session_id: str, q: str, limit: int) -> list[tuple[float, str]]:
        return fts.session_hits(self.conn, session_id, q, limit)

    def _insert_text(self, session_id: str, copied: tuple[Any, ...], rows: list[TextRow]) -> None:
        for t, text, times in rows:
            rowid = self.conn.execute(
                "INSERT INTO session_text (text, session_id, t) VALUES (?, ?, ?)",
                [text, session_id, t],
            ).lastrowid
            self.conn.execute(
                insert("session_text_rows", ("id", "session_id", "times", *TEXT_ROW_COPIES)),
                [rowid, session_id, times or None, *copied],
            )

    def _remove_text(self, session_ids: list[str]) -> None:
        # Found by their rows in session_text_rows: a DELETE by session_id on
        # the FTS table would read every row's text to find theirs.
        among, params = SQLITE.within("session_id", session_ids)
        self.conn.execute(
            "DELETE FROM session_text WHERE rowid IN "
            f"(SELECT id FROM session_text_rows WHERE {among})",
            params,
        )
        self.conn.execute(f"DELETE FROM session_text_rows WHERE {among}", params)

    def _remove_own(self, session_ids: list[str]) -> None:
        among, params = SQLITE.within("session_id", session_ids)
        self.conn.execute(
            f"DELETE FROM command_text WHERE rowid IN (SELECT id FROM commands WHERE {among})",
            params,
        )

    def _replace_commands(self, session_id: str, commands: list[CommandRow]) -> None:
        self._remove_own([session_id])
        self.conn.execute("DELETE FROM commands WHERE session_id = ?", [session_id])
        for c in commands:
            cur = self.conn.execute(
                insert("commands", COMMAND_COLUMNS), [getattr(c, n) for n in COMMAND_COLUMNS]
            )
            self.conn.execute(
                "INSERT INTO command_text (rowid, line) VALUES (?, ?)", [cur.lastrowid, c.line]
            )

    def _search_commands(
        self, search: str, filters: Filters, in_session: bool, limit: int | None
    ) -> list[CommandRow]:
        where = filters.where("c", '"time"').add("command_text MATCH ?", fts.fts_query(search))
        # FTS5 walks its rowids downwards without scoring or sorting every
        # match: the newest indexed first, so a common word costs no more
        # than a rare one.
        order = "c.t" if in_session else "f.rowid DESC"
        source = "command_text f JOIN commands c ON c.id = f.rowid"
        return self._command_rows(source, where, order, limit)
