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
from auditor.index.api import SessionIndex
from auditor.index.failures import FailureKind
from auditor.index.rows import (
    FAILURE_COLUMNS,
    SESSION_COLUMNS,
    CommandRow,
    Failure,
    KindSummary,
    LiveRow,
    SearchHit,
    Session,
    TerminationRequest,
    TextRow,
    TextState,
)
from auditor.index.schema import migrate
from auditor.index.sqlite_marks import SqliteMarks

INDEX_FILE = "index.db"
BUSY_TIMEOUT_MS = 5000
# The session's columns each text row keeps a copy of, for filtered searches.
TEXT_ROW_COPIES = ("user", "node", "start")


class SqliteIndex(SqliteMarks, SessionIndex):
    TRANSIENT = (sqlite3.OperationalError,)

    def __init__(self, data_dir: Path, conn: sqlite3.Connection, background_text: bool) -> None:
        super().__init__(data_dir, background_text)
        self.conn = conn
        self._depth = 0  # open transactions: store_text joins one it is called inside

    @classmethod
    def connect(cls, data_dir: Path, *, background_text: bool = False) -> SqliteIndex:
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
        return cls(Path(data_dir), conn, background_text)

    def reopen(self) -> SqliteIndex:
        return SqliteIndex.connect(self.data_dir, background_text=False)

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

    # Writing
    def _insert_session(self, row: dict[str, Any]) -> None:
        # Plain SQL rather than sqlite-utils' insert, which commits: this may run
        # inside a caller's transaction (bulk loads, imports).
        self.conn.execute(
            f"INSERT INTO sessions ({_cols(list(row))}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )

    def _update_session(self, session_id: str, row: dict[str, Any]) -> None:
        sets = ", ".join(f"[{k}] = :{k}" for k in row)
        sql = f"UPDATE sessions SET {sets} WHERE id = :id"
        copied = {k: row[k] for k in TEXT_ROW_COPIES if k in row}
        if not copied:
            self.conn.execute(sql, {**row, "id": session_id})
            return
        with self.transaction() as conn:  # and the copies a filtered search reads
            conn.execute(sql, {**row, "id": session_id})
            sets = ", ".join(f"[{k}] = :{k}" for k in copied)
            conn.execute(
                f"UPDATE session_text_rows SET {sets} WHERE session_id = :id",
                {**copied, "id": session_id},
            )

    def _insert_ended(self, row: dict[str, Any]) -> None:
        from auditor.index.extract import extract_text

        session_id = str(row["id"])
        with self.transaction() as conn:
            _remove_text(conn, [session_id])
            conn.execute(
                f"INSERT OR REPLACE INTO sessions ({_cols(list(row))}) "
                f"VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            if row.get("recording_path"):
                extract_text(self, session_id)
            else:
                conn.execute("UPDATE sessions SET text_done = 1 WHERE id = ?", [session_id])

    def _insert_failure(self, row: dict[str, Any]) -> None:
        self.conn.execute(
            f"INSERT INTO failures ({_cols(list(row))}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )

    # Reading
    def _ids_from(self, low: str, high: str, limit: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            [low, high, limit],
        )
        return [str(r[0]) for r in rows]

    def _sessions_by_id(self, ids: list[str]) -> dict[str, Session]:
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT {_cols(SESSION_COLUMNS)} FROM sessions WHERE id IN ({marks})", ids
        )
        return {s.id: s for s in (Session(*r) for r in rows)}

    def _sessions(
        self,
        live: bool | None,
        user: str | None,
        node: str | None,
        since: float | None,
        limit: int | None,
    ) -> list[Session]:
        where, params = _filters(live, user, node, since)
        sql = f"SELECT {_cols(SESSION_COLUMNS)} FROM sessions {where} ORDER BY start DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Session(*r) for r in self.conn.execute(sql, params)]

    def page(
        self,
        *,
        status: str | None = None,
        user: str | None = None,
        node: str | None = None,
        after: Session | None = None,
        limit: int = 100,
    ) -> list[Session]:
        if status == "live":
            return []
        where, params = _filters(None, user, node, None)
        clauses = [where.removeprefix("WHERE ")] if where else []
        if status is None:
            clauses.append("status != 'live'")
        else:
            clauses.append("status = ?")
            params.append(status)
        if after is not None:
            clauses.append("(start < ? OR (start = ? AND id < ?))")
            params += [after.start, after.start, after.id]
        sql = (
            f"SELECT {_cols(SESSION_COLUMNS)} FROM sessions WHERE {' AND '.join(clauses)} "
            f"ORDER BY start DESC, id DESC LIMIT {int(limit)}"
        )
        return [Session(*r) for r in self.conn.execute(sql, params)]

    def session_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM sessions").fetchone()[0])

    def ended_since(self, since: float) -> list[Session]:
        rows = self.conn.execute(
            f"SELECT {_cols(SESSION_COLUMNS)} FROM sessions WHERE status != 'live' "
            "AND end >= ? AND recording_path IS NOT NULL ORDER BY end",
            [since],
        )
        return [Session(*r) for r in rows]

    def failures(
        self,
        *,
        kind: FailureKind | str | None = None,
        since: float | None = None,
        limit: int | None = 100,
    ) -> list[Failure]:
        clauses: list[str] = []
        params: list[Any] = []
        if kind is not None:
            clauses.append("kind = ?")
            params.append(FailureKind(kind).value)
        if since is not None:
            clauses.append("time >= ?")
            params.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {_cols(FAILURE_COLUMNS)} FROM failures {where} ORDER BY time DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Failure(*r) for r in self.conn.execute(sql, params)]

    def failure_summary(self, since: float, buckets: int, now: float) -> list[KindSummary]:
        width = (now - since) / buckets
        activity: dict[str, list[int]] = {}
        for kind, bucket, n in self.conn.execute(
            "SELECT kind, CAST((time - ?) / ? AS INTEGER) AS b, count(*) FROM failures "
            "WHERE time >= ? GROUP BY kind, b",
            [since, width, since],
        ):
            row = activity.setdefault(kind, [0] * buckets)
            row[min(max(int(bucket), 0), buckets - 1)] += n
        rows = self.conn.execute(
            "SELECT kind, count(*), max(time) FROM failures GROUP BY kind "
            "ORDER BY count(*) DESC, kind"
        ).fetchall()
        return [
            KindSummary(kind, count, last, activity.get(kind, [0] * buckets))
            for kind, count, last in rows
        ]

    def search(
        self,
        q: str,
        *,
        live: bool | None = None,
        user: str | None = None,
        node: str | None = None,
        since: float | None = None,
        limit: int | None = 50,
    ) -> list[SearchHit]:
        found = self._newest_matches(q, live, user, node, since, limit)
        lines = fts.snippets(self.conn, q, [rowid for _, rowid in found])
        sessions = self._sessions_by_id([sid for sid, _ in found])
        return [
            SearchHit(sessions[sid], *lines.get(rowid, (0.0, "")))
            for sid, rowid in found
            if sid in sessions
        ]

    def _search_sessions(
        self,
        q: str,
        live: bool | None,
        user: str | None,
        node: str | None,
        since: float | None,
        limit: int | None,
    ) -> list[Session]:
        found = self._newest_matches(q, live, user, node, since, limit)
        sessions = self._sessions_by_id([sid for sid, _ in found])
        return [sessions[sid] for sid, _ in found if sid in sessions]

    def _newest_matches(
        self,
        q: str,
        live: bool | None,
        user: str | None,
        node: str | None,
        since: float | None,
        limit: int | None,
    ) -> list[tuple[str, int]]:
        clauses: list[str] = []
        params: list[object] = []
        if live is not None:  # live sessions are few: the subquery runs once
            clauses.append(
                f"r.session_id {'' if live else 'NOT '}IN "
                "(SELECT id FROM sessions WHERE status = 'live')"
            )
        for column, value in (("r.user", user), ("r.node", node)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("r.start >= ?")
            params.append(since)
        return fts.newest_matches(self.conn, q, clauses, params, limit)

    def _session_hits(self, session_id: str, q: str, limit: int) -> list[tuple[float, str]]:
        return fts.session_hits(self.conn, session_id, q, limit)

    # Text extraction's storage
    def text_state(self, session_id: str) -> TextState | None:
        row = self.conn.execute(
            "SELECT recording_path, status, text_offset, text_seq, text_t, text_carry, "
            "text_carry_t, text_done FROM sessions WHERE id = ?",
            [session_id],
        ).fetchone()
        if row is None:
            return None
        path, status, offset, seq, t, carry, carry_t, done = row
        return TextState(path, status, offset, seq, t, carry or b"", carry_t, bool(done))

    def store_text(
        self, session_id: str, expected: int, state: TextState, rows: list[TextRow]
    ) -> bool:
        with self.transaction() as conn:
            now = conn.execute(
                f"SELECT text_offset, {_cols(TEXT_ROW_COPIES)} FROM sessions WHERE id = ?",
                [session_id],
            ).fetchone()
            if now is None or now[0] != expected:
                return False
            copied = now[1:]
            for t, text, times in (TextRow(*row) for row in rows):
                rowid = conn.execute(
                    "INSERT INTO session_text (text, session_id, t) VALUES (?, ?, ?)",
                    [text, session_id, t],
                ).lastrowid
                conn.execute(
                    f"INSERT INTO session_text_rows (id, session_id, times, "
                    f"{_cols(TEXT_ROW_COPIES)}) "
                    f"VALUES (?, ?, ?, {', '.join('?' * len(TEXT_ROW_COPIES))})",
                    [rowid, session_id, times or None, *copied],
                )
            conn.execute(
                "UPDATE sessions SET text_offset = ?, text_seq = ?, text_t = ?, text_carry = ?, "
                "text_carry_t = ?, text_done = ? WHERE id = ?",
                [
                    state.offset,
                    state.seq,
                    state.t,
                    state.carry or None,
                    state.carry_t,
                    int(state.done),
                    session_id,
                ],
            )
        return True

    def pending_text(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT id FROM sessions WHERE text_done = 0 AND recording_path IS NOT NULL"
        )
        return [str(r[0]) for r in rows]

    def give_up_text(self, session_id: str) -> None:
        self.conn.execute("UPDATE sessions SET text_done = 1 WHERE id = ?", [session_id])

    # Commands
    def store_commands(self, session_id: str, commands: list[CommandRow]) -> None:
        with self.transaction() as conn:
            old = [
                r[0]
                for r in conn.execute("SELECT id FROM commands WHERE session_id = ?", [session_id])
            ]
            conn.executemany("DELETE FROM command_text WHERE rowid = ?", [[i] for i in old])
            conn.execute("DELETE FROM commands WHERE session_id = ?", [session_id])
            for c in commands:
                cur = conn.execute(
                    "INSERT INTO commands (session_id, t, time, line, context, user, login, node) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [c.session_id, c.t, c.time, c.line, c.context, c.user, c.login, c.node],
                )
                conn.execute(
                    "INSERT INTO command_text (rowid, line) VALUES (?, ?)", [cur.lastrowid, c.line]
                )
            conn.execute("UPDATE sessions SET commands_done = 1 WHERE id = ?", [session_id])

    def pending_commands(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT id FROM sessions WHERE commands_done = 0 AND status != 'live' "
            "AND recording_path IS NOT NULL ORDER BY start"
        )
        return [str(r[0]) for r in rows]

    def commands(
        self,
        *,
        user: str | None = None,
        node: str | None = None,
        since: float | None = None,
        search: str | None = None,
        session_id: str | None = None,
        limit: int | None = 100,
    ) -> list[CommandRow]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("c.user", user), ("c.node", node), ("c.session_id", session_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("c.time >= ?")
            params.append(since)
        source = "commands c"
        if search is not None:
            source = "command_text f JOIN commands c ON c.id = f.rowid"
            clauses.append("command_text MATCH ?")
            params.append(fts.fts_query(search))
        if session_id is not None:
            order = "c.t"
        elif search is not None:
            # FTS5 walks its rowids downwards without scoring or sorting every
            # match: the newest indexed first, so a common word costs no more
            # than a rare one. The page is put in time order below.
            order = "f.rowid DESC"
        else:
            order = "c.time DESC, c.id DESC"
        sql = (
            "SELECT c.session_id, c.t, c.time, c.line, c.context, c.user, c.login, c.node "
            f"FROM {source} {'WHERE ' + ' AND '.join(clauses) if clauses else ''} ORDER BY {order}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        found = [CommandRow(*r) for r in fts.run(self.conn, sql, params)]
        if search is not None and session_id is None:
            found.sort(key=lambda c: c.time, reverse=True)
        return found

    # Terminations
    def _request_termination(self, session_id: str, by: str, reason: str) -> bool:
        cur = self.conn.execute(
            "UPDATE sessions SET terminated_by = ?, termination_reason = ? "
            "WHERE id = ? AND status = 'live'",
            [by, reason, session_id],
        )
        return cur.rowcount > 0

    def termination_requests(self, session_ids: list[str]) -> list[TerminationRequest]:
        found: list[TerminationRequest] = []
        for i in range(0, len(session_ids), 500):
            batch = session_ids[i : i + 500]
            rows = self.conn.execute(
                "SELECT id, terminated_by, termination_reason FROM sessions "
                f"WHERE id IN ({', '.join('?' * len(batch))}) "
                "AND status = 'live' AND terminated_by IS NOT NULL",
                batch,
            )
            found += [TerminationRequest(*r) for r in rows]
        return found

    # Retention
    def expired_sessions(self, ended_before: float, limit: int | None = None) -> list[Session]:
        sql = (
            f"SELECT {_cols(SESSION_COLUMNS)} FROM sessions WHERE status != 'live' "
            "AND coalesce(end, start) < ? "
            "AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.session_id = sessions.id) "
            "ORDER BY coalesce(end, start), id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Session(*r) for r in self.conn.execute(sql, [ended_before])]

    def remove_sessions(self, session_ids: list[str]) -> int:
        removed = 0
        for i in range(0, len(session_ids), 500):
            batch = session_ids[i : i + 500]
            marks = ", ".join("?" * len(batch))
            with self.transaction() as conn:
                over = [
                    r[0]
                    for r in conn.execute(
                        f"SELECT id FROM sessions WHERE id IN ({marks}) AND status != 'live' "
                        "AND id NOT IN (SELECT session_id FROM holds)",  # held: kept
                        batch,
                    )
                ]
                if not over:
                    continue
                marks = ", ".join("?" * len(over))
                _remove_text(conn, over)
                conn.execute(
                    "DELETE FROM command_text WHERE rowid IN "
                    f"(SELECT id FROM commands WHERE session_id IN ({marks}))",
                    over,
                )
                conn.execute(f"DELETE FROM commands WHERE session_id IN ({marks})", over)
                conn.execute(f"DELETE FROM reviews WHERE session_id IN ({marks})", over)
                conn.execute(f"DELETE FROM views WHERE session_id IN ({marks})", over)
                cur = conn.execute(f"DELETE FROM sessions WHERE id IN ({marks})", over)
                removed += cur.rowcount
        return removed

    def count_failures(self, before: float) -> int:
        row = self.conn.execute("SELECT count(*) FROM failures WHERE time < ?", [before])
        return int(row.fetchone()[0])

    def remove_failures(self, before: float) -> int:
        with self.transaction() as conn:
            return conn.execute("DELETE FROM failures WHERE time < ?", [before]).rowcount

    # Recovery
    def _live_rows(self) -> list[LiveRow]:
        rows = self.conn.execute(
            "SELECT id, owner, start, updated, recording_path FROM sessions WHERE status = 'live'"
        )
        return [LiveRow(*r) for r in rows]

    def _mark_interrupted(self, session_id: str, end: float, anchor: str | None) -> bool:
        cur = self.conn.execute(
            "UPDATE sessions SET status = 'interrupted', end = ?, recording_hash = ? "
            "WHERE id = ? AND status = 'live'",
            [end, anchor, session_id],
        )
        return cur.rowcount > 0

    # Migration (auditor migrate)
    def copied_sessions(self, session_ids: list[str]) -> dict[str, Session]:
        found: dict[str, Session] = {}
        for i in range(0, len(session_ids), 500):
            batch = session_ids[i : i + 500]
            rows = self.conn.execute(
                f"SELECT {_cols(SESSION_COLUMNS)} FROM sessions "
                f"WHERE id IN ({', '.join('?' * len(batch))}) "
                "AND text_done = 1 AND commands_done = 1",
                batch,
            )
            found.update((s.id, s) for s in (Session(*r) for r in rows))
        return found

    def failure_ids(self, failure_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(failure_ids), 500):
            batch = failure_ids[i : i + 500]
            rows = self.conn.execute(
                f"SELECT id FROM failures WHERE id IN ({', '.join('?' * len(batch))})", batch
            )
            found.update(str(r[0]) for r in rows)
        return found


def _remove_text(conn: sqlite3.Connection, session_ids: list[str]) -> None:
    """The sessions' text, found by their rows in session_text_rows: a DELETE by
    session_id on the FTS table would read every row's text to find theirs."""
    marks = ", ".join("?" * len(session_ids))
    conn.execute(
        "DELETE FROM session_text WHERE rowid IN "
        f"(SELECT id FROM session_text_rows WHERE session_id IN ({marks}))",
        session_ids,
    )
    conn.execute(f"DELETE FROM session_text_rows WHERE session_id IN ({marks})", session_ids)


def _cols(names: Sequence[str]) -> str:
    return ", ".join(f"[{n}]" for n in names)


def _filters(
    live: bool | None, user: str | None, node: str | None, since: float | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if live is True:
        clauses.append("status = 'live'")
    elif live is False:
        clauses.append("status != 'live'")
    if user is not None:
        clauses.append("user = ?")
        params.append(user)
    if node is not None:
        clauses.append("node = ?")
        params.append(node)
    if since is not None:
        clauses.append("start >= ?")
        params.append(since)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params
