"""The session index: one SQLite file in WAL mode shared by every process.

The proxy writes a few rows per session (start, a byte-count update every
few seconds, end) from its index thread; the CLI, the TUI and ``tail``
read from other processes. WAL lets readers run while the writer writes,
every transaction is short, and ``busy_timeout`` rides out the rare moment
two writers meet (the proxy and ``auditor import``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from auditor.errors import AuditorError
from auditor.index import search as fts
from auditor.index.failures import FailureKind
from auditor.index.owner import current_owner, owner_alive
from auditor.index.rows import (
    FAILURE_COLUMNS,
    SESSION_COLUMNS,
    Failure,
    KindSummary,
    SearchHit,
    Session,
)
from auditor.index.schema import migrate
from auditor.recording.format import RecordingError
from auditor.recording.reader import RecordingReader

log = logging.getLogger("auditor.index")

INDEX_FILE = "index.db"
RECORDINGS_DIR = "recordings"
BUSY_TIMEOUT_MS = 5000
_SETTABLE = frozenset(SESSION_COLUMNS) - {"id", "status", "recording_hash"}
_HEX = re.compile(r"[0-9a-f]+")


class SessionIndex:
    def __init__(self, data_dir: Path, db: sqlite_utils.Database, background_text: bool) -> None:
        self.data_dir = data_dir
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self._background_text = background_text
        self._worker: Any = None  # extract.TextWorker, started by the first write
        self._owner = current_owner()

    @classmethod
    def open(cls, data_dir: Path, *, background_text: bool = False) -> SessionIndex:
        """Open (creating and migrating) ``data_dir/index.db``.

        Text extraction is CPU work: a writer that forwards bytes runs
        ``index_pending_text`` in another process (the proxy does). With
        ``background_text`` a thread of this process does it instead, every
        few seconds once this index writes sessions: fine for tools, not
        for a busy event loop (it takes the GIL).
        """
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
            db = sqlite_utils.Database(conn)
            migrate(db)
        except sqlite3.DatabaseError as exc:
            raise AuditorError(f"{path}: cannot open the index: {exc}") from None
        return cls(Path(data_dir), db, background_text)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.conn.close()

    def __enter__(self) -> SessionIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: take the write lock up front, so no upgrade deadlocks."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # Recordings
    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / RECORDINGS_DIR

    def recording_path(self, session_id: str) -> Path:
        """Where a new session's recording goes; needs no database access."""
        return self.recordings_dir / session_id[:2] / f"{session_id}.rec"

    @staticmethod
    def new_session_id() -> str:
        return uuid.uuid4().hex

    # Writing sessions (the proxy, a few calls per session)
    def start_session(self, session_id: str | None = None, **fields: Any) -> str:
        """Insert a ``live`` session row; returns its id. ``start`` defaults to now."""
        row = self._session_fields(fields)
        row.setdefault("start", time.time())
        row.update(
            id=session_id or self.new_session_id(),
            status=fields.get("status", "live"),
            owner=self._owner,
            updated=time.time(),
            text_done=0 if row.get("recording_path") else 1,
        )
        # Plain SQL rather than sqlite-utils' insert, which commits: this may run
        # inside a caller's transaction (bulk loads, imports).
        self.conn.execute(
            f"INSERT INTO sessions ({_cols(list(row))}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        self._ensure_worker()
        return str(row["id"])

    def insert_ended(self, session_id: str, status: str = "ended", **fields: Any) -> None:
        """A whole finished session at once (an import, a bundled sample), text included.

        The row and its searchable text go in one transaction: a failure
        leaves no half-indexed session behind. A row with the same id (a
        sample imported again) is replaced, its old text with it.
        """
        if status not in ("ended", "interrupted"):
            raise ValueError(f"insert_ended: status must be ended or interrupted, not {status!r}")
        if "start" not in fields:
            raise TypeError("insert_ended: start is required")
        unknown = set(fields) - set(SESSION_COLUMNS)
        if unknown:
            raise TypeError(f"unknown session fields: {', '.join(sorted(unknown))}")
        row = dict(fields)
        row.update(id=session_id, status=status, updated=time.time(), text_done=0)
        with self.transaction() as conn:
            conn.execute("DELETE FROM session_text WHERE session_id = ?", [session_id])
            conn.execute(
                f"INSERT OR REPLACE INTO sessions ({_cols(list(row))}) "
                f"VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            if row.get("recording_path"):
                from auditor.index.extract import extract_text

                extract_text(self, session_id, in_transaction=True)
            else:
                conn.execute("UPDATE sessions SET text_done = 1 WHERE id = ?", [session_id])

    def update_session(self, session_id: str, **fields: Any) -> None:
        row = self._session_fields(fields)
        row["updated"] = time.time()
        sets = ", ".join(f"[{k}] = :{k}" for k in row)
        self.conn.execute(f"UPDATE sessions SET {sets} WHERE id = :id", {**row, "id": session_id})

    def end_session(
        self,
        session_id: str,
        status: str = "ended",
        exit_status: int | None = None,
        end: float | None = None,
        **fields: Any,
    ) -> None:
        """Close the row; the recording's last hash is kept as verify's anchor."""
        if status not in ("ended", "interrupted"):
            raise ValueError(f"end_session: status must be ended or interrupted, not {status!r}")
        row = self._session_fields(fields)
        row.update(status=status, end=end if end is not None else time.time())
        if exit_status is not None:
            row["exit_status"] = exit_status
        path = self.conn.execute(
            "SELECT recording_path FROM sessions WHERE id = ?", [session_id]
        ).fetchone()
        if path and path[0]:
            row["recording_hash"] = self._final_hash(Path(path[0]))
        row["updated"] = time.time()
        sets = ", ".join(f"[{k}] = :{k}" for k in row)
        self.conn.execute(f"UPDATE sessions SET {sets} WHERE id = :id", {**row, "id": session_id})
        self._ensure_worker(wake=True)

    def _final_hash(self, path: Path) -> str | None:
        try:
            return RecordingReader(path).summary().final_hash
        except RecordingError as exc:
            log.warning("no hash anchor for %s: %s", path, exc)
            return None

    @staticmethod
    def _session_fields(fields: dict[str, Any]) -> dict[str, Any]:
        unknown = set(fields) - _SETTABLE - {"status"}
        if unknown:
            raise TypeError(f"unknown session fields: {', '.join(sorted(unknown))}")
        return {k: v for k, v in fields.items() if k != "status"}

    # Failures
    def record_failure(
        self, kind: FailureKind | str, message: str, hint: str | None = None, **fields: Any
    ) -> str:
        """Insert a failure row; ``hint`` defaults to the kind's remediation hint."""
        kind = FailureKind(kind)
        known = {k: v for k, v in fields.items() if k in FAILURE_COLUMNS}
        extra = {k: v for k, v in fields.items() if k not in FAILURE_COLUMNS}
        row = {
            "id": uuid.uuid4().hex,
            "time": time.time(),
            **known,
            "kind": kind.value,
            "message": message,
            "hint": hint or kind.hint,
            "extra": json.dumps(extra, default=str) if extra else None,
        }
        self.db.table("failures").insert(row)
        return str(row["id"])

    # Reading
    def resolve_id(self, prefix: str) -> str:
        """The full session id for a unique prefix."""
        p = prefix.strip().lower()
        if not p or not _HEX.fullmatch(p):
            raise AuditorError(f"unknown session ID {prefix!r}: IDs are hexadecimal")
        rows = self.conn.execute(
            "SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT 6", [p, p + "g"]
        ).fetchall()
        if not rows:
            raise AuditorError(f"unknown session ID {prefix!r}")
        if len(rows) > 1:
            shown = ", ".join(r[0][: len(p) + 4] for r in rows[:5])
            raise AuditorError(f"ambiguous session ID {prefix!r}: matches {shown}...")
        return str(rows[0][0])

    def get_session(self, session_id: str) -> Session:
        """The row for a full id or a unique prefix."""
        return self._session(self.resolve_id(session_id))

    def _session(self, full_id: str) -> Session:
        row = self.conn.execute(
            f"SELECT {_cols(SESSION_COLUMNS)} FROM sessions WHERE id = ?", [full_id]
        ).fetchone()
        if row is None:
            raise AuditorError(f"unknown session ID {full_id!r}")
        return Session(*row)

    def sessions(
        self,
        *,
        live: bool | None = None,
        user: str | None = None,
        node: str | None = None,
        since: float | None = None,
        search: str | None = None,
        limit: int | None = 100,
    ) -> list[Session]:
        """Newest first. With ``search``, only sessions whose text matches."""
        if search:
            hits = self.search(search, live=live, user=user, node=node, since=since, limit=limit)
            return [h.session for h in hits]
        where, params = _filters(live, user, node, since)
        sql = f"SELECT {_cols(SESSION_COLUMNS)} FROM sessions {where} ORDER BY start DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Session(*r) for r in self.conn.execute(sql, params)]

    def live_sessions(self, *, user: str | None = None, node: str | None = None) -> list[Session]:
        return self.sessions(live=True, user=user, node=node, limit=None)

    def page(
        self,
        *,
        status: str | None = None,
        user: str | None = None,
        node: str | None = None,
        after: Session | None = None,
        limit: int = 100,
    ) -> list[Session]:
        """Sessions that are over, newest first, the ``limit`` after ``after``.

        Keyset paging on ``(start, id)``: page 50 of a long list costs what
        page 1 does, where ``OFFSET`` would scan every row before it.
        """
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
        """Sessions with a recording that ended (or were interrupted) at ``since`` or later,
        in the order they ended: what background upkeep has not seen yet."""
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
        """Per kind: count, latest, and failures per bucket from ``since`` to ``now``;
        most frequent first."""
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
        """Sessions whose printed text matches ``q`` (every word), newest text first."""
        where, params = _filters(live, user, node, since)
        found: list[tuple[str, int]] = []
        for batch in fts.matching_sessions(self.conn, q):
            ids = [sid for sid, _ in batch]
            rows = self.conn.execute(
                f"SELECT id FROM sessions {where} {'AND' if where else 'WHERE'} "
                f"id IN ({', '.join('?' * len(ids))})",
                [*params, *ids],
            ).fetchall()
            keep = {r[0] for r in rows}
            found.extend((sid, rowid) for sid, rowid in batch if sid in keep)
            if limit is not None and len(found) >= limit:
                found = found[:limit]
                break
        lines = fts.snippets(self.conn, q, [rowid for _, rowid in found])
        sessions = self._sessions_by_id([sid for sid, _ in found])
        return [
            SearchHit(sessions[sid], *lines.get(rowid, (0.0, "")))
            for sid, rowid in found
            if sid in sessions
        ]

    def _sessions_by_id(self, ids: list[str]) -> dict[str, Session]:
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT {_cols(SESSION_COLUMNS)} FROM sessions WHERE id IN ({marks})", ids
        )
        return {s.id: s for s in (Session(*r) for r in rows)}

    def search_hits(self, session_id: str, q: str, limit: int = 1000) -> list[tuple[float, str]]:
        """Where in one session ``q`` matches: ``(t, line)`` in recording order."""
        return fts.session_hits(self.conn, self.resolve_id(session_id), q, limit)

    # Text and recovery
    def index_text(self, session_id: str) -> int:
        """Extract the text one session printed since the last pass; returns characters added."""
        from auditor.index.extract import extract_text

        return extract_text(self, session_id)

    def index_pending_text(self) -> int:
        """One extraction pass over live sessions and ended ones not yet done."""
        from auditor.index.extract import extract_pending

        return extract_pending(self)

    def recover_interrupted(self) -> int:
        """Sessions left ``live`` by a process that is gone become ``interrupted``.

        Their end time is the time of their last record; returns how many.
        """
        rows = self.conn.execute(
            "SELECT id, owner, start, updated, recording_path FROM sessions WHERE status = 'live'"
        ).fetchall()
        count = 0
        for sid, owner, start, updated, path in rows:
            if owner == self._owner or owner_alive(owner):
                continue
            end, anchor = updated or start, None
            if path:
                try:
                    summary = RecordingReader(Path(path)).summary()
                    end, anchor = start + summary.duration, summary.final_hash
                except RecordingError as exc:
                    log.warning("session %s: %s", sid, exc)
            self.conn.execute(
                "UPDATE sessions SET status = 'interrupted', end = ?, recording_hash = ? "
                "WHERE id = ? AND status = 'live'",
                [end, anchor, sid],
            )
            count += 1
        if count:
            self._ensure_worker(wake=True)
        return count

    def _ensure_worker(self, wake: bool = False) -> None:
        if not self._background_text:
            return
        if self._worker is None:
            from auditor.index.extract import TextWorker

            self._worker = TextWorker(self.data_dir)
            self._worker.start()
        elif wake:
            self._worker.wake()


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
