"""The half of the index both SQL engines share: every query but full-text search.

``SqlIndex`` runs the statements ``query`` builds on an engine's
connection, in that engine's ``Dialect``. What an engine adds is what
truly differs: its connection and transactions, its text search (SQLite's
FTS5 tables, PostgreSQL's tsvectors), and on PostgreSQL live follow
across machines and the proxies' leases.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from auditor.index.api import SessionIndex
from auditor.index.failure_kinds import FailureKind
from auditor.index.marks import SqlMarks
from auditor.index.query import (
    FAILURE_COLUMNS_SQL,
    SESSION_COLUMNS_SQL,
    Filters,
    Where,
    assignments,
    columns,
    insert,
    limit_clause,
)
from auditor.index.rows import (
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

# The session's columns each text row keeps a copy of, for filtered searches.
TEXT_ROW_COPIES = ("user", "node", "start")
COMMAND_COLUMNS = ("session_id", "t", "time", "line", "context", "user", "login", "node")
HELD = "(SELECT session_id FROM holds)"


class SqlIndex(SqlMarks, SessionIndex):
    # The table whose rows keep the TEXT_ROW_COPIES of their session.
    TEXT_ROWS: ClassVar[str]

    # What only the engine knows: its text search and the rows it keeps for it
    @abstractmethod
    def _newest_matches(self, q: str, filters: Filters, limit: int | None) -> list[tuple[str, int]]:
        """``(session id, id of its newest matching text row)``, newest first, each
        session once, of the rows that pass ``filters``."""

    @abstractmethod
    def _hit_lines(self, q: str, found: list[tuple[str, int]]) -> dict[int, tuple[float, str]]:
        """``(time, matching line)`` of each of ``found``'s text rows still there."""

    @abstractmethod
    def _insert_text(
        self, session_id: str, copied: tuple[Any, ...], rows: list[TextRow]
    ) -> None: ...

    @abstractmethod
    def _remove_text(self, session_ids: list[str]) -> None:
        """The sessions' text rows (at most a batch of sessions)."""

    @abstractmethod
    def _remove_own(self, session_ids: list[str]) -> None:
        """Whatever else of the sessions only this engine keeps, before their
        commands go (at most a batch of sessions)."""

    @abstractmethod
    def _replace_commands(self, session_id: str, commands: list[CommandRow]) -> None: ...

    @abstractmethod
    def _search_commands(
        self, search: str, filters: Filters, in_session: bool, limit: int | None
    ) -> list[CommandRow]:
        """Commands that pass ``filters`` and match: a session's in the order they
        ran, else those read most recently."""

    # Writing
    def _insert_session(self, row: dict[str, Any]) -> None:
        # Plain SQL rather than sqlite-utils' insert, which commits: this may run
        # inside a caller's transaction (bulk loads, imports).
        self._change(insert("sessions", list(row)), list(row.values()))

    def _update_session(self, session_id: str, row: dict[str, Any]) -> None:
        sql = f"UPDATE sessions SET {assignments(list(row))} WHERE id = ?"
        copied = {k: row[k] for k in TEXT_ROW_COPIES if k in row}
        if not copied:
            self._change(sql, [*row.values(), session_id])
            return
        with self.transaction():  # and the copies a filtered search reads
            self._change(sql, [*row.values(), session_id])
            self._change(
                f"UPDATE {self.TEXT_ROWS} SET {assignments(list(copied))} WHERE session_id = ?",
                [*copied.values(), session_id],
            )

    def _insert_ended(self, row: dict[str, Any]) -> None:
        session_id = str(row["id"])
        with self.transaction():
            self._remove_text([session_id])
            self._change("DELETE FROM sessions WHERE id = ?", [session_id])
            if not row.get("recording_path"):
                row = {**row, "text_done": 1}
            self._change(insert("sessions", list(row)), list(row.values()))

    def _insert_failure(self, row: dict[str, Any]) -> None:
        self._change(insert("failures", list(row)), list(row.values()))

    # Reading
    def _ids_from(self, low: str, high: str, limit: int) -> list[str]:
        rows = self._select(
            "SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            [low, high, limit],
        )
        return [str(r[0]) for r in rows]

    def _session_rows(self, sql: str, params: list[Any]) -> list[Session]:
        return [Session(*r) for r in self._select(sql, params)]

    def _sessions_by_id(self, ids: list[str]) -> dict[str, Session]:
        found: dict[str, Session] = {}
        for among, params in self.dialect.among("id", ids):
            sql = f"SELECT {SESSION_COLUMNS_SQL} FROM sessions WHERE {among}"
            found.update((s.id, s) for s in self._session_rows(sql, params))
        return found

    def _sessions(
        self,
        live: bool | None,
        user: str | None,
        node: str | None,
        since: float | None,
        limit: int | None,
    ) -> list[Session]:
        where = Filters.of(live=live, since=since, user=user, node=node).where()
        sql = f"SELECT {SESSION_COLUMNS_SQL} FROM sessions {where} ORDER BY start DESC"
        return self._session_rows(sql + limit_clause(limit), where.params)

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
        where = Filters.of(user=user, node=node).where()
        if status is None:
            where.add("status != 'live'")
        else:
            where.add("status = ?", status)
        if after is not None:
            keyset, values = self.dialect.before("start", "id", (after.start, after.id))
            where.add(keyset, *values)
        sql = f"SELECT {SESSION_COLUMNS_SQL} FROM sessions {where} ORDER BY start DESC, id DESC"
        return self._session_rows(sql + limit_clause(limit), where.params)

    def session_count(self) -> int:
        return int(self._select("SELECT count(*) FROM sessions")[0][0])

    def ended_since(self, since: float) -> list[Session]:
        return self._session_rows(
            f"SELECT {SESSION_COLUMNS_SQL} FROM sessions WHERE status != 'live' "
            'AND "end" >= ? AND recording_path IS NOT NULL ORDER BY "end"',
            [since],
        )

    def failures(
        self,
        *,
        kind: FailureKind | str | None = None,
        since: float | None = None,
        limit: int | None = 100,
    ) -> list[Failure]:
        kind = None if kind is None else FailureKind(kind).value
        where = Filters.of(since=since, kind=kind).where(since='"time"')
        sql = f'SELECT {FAILURE_COLUMNS_SQL} FROM failures {where} ORDER BY "time" DESC'
        return [Failure(*r) for r in self._select(sql + limit_clause(limit), where.params)]

    def failure_summary(self, since: float, buckets: int, now: float) -> list[KindSummary]:
        width = (now - since) / buckets
        activity: dict[str, list[int]] = {}
        bucket_of = self.dialect.floor.format('("time" - ?) / ?')
        for kind, bucket, n in self._select(
            f'SELECT kind, {bucket_of} AS b, count(*) FROM failures WHERE "time" >= ? '
            "GROUP BY kind, b",
            [since, width, since],
        ):
            row = activity.setdefault(kind, [0] * buckets)
            row[min(max(int(bucket), 0), buckets - 1)] += n
        rows = self._select(
            'SELECT kind, count(*), max("time") FROM failures GROUP BY kind '
            "ORDER BY count(*) DESC, kind"
        )
        return [
            KindSummary(kind, int(count), last, activity.get(kind, [0] * buckets))
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
        found = self._newest_matches(
            q, Filters.of(live=live, since=since, user=user, node=node), limit
        )
        lines = self._hit_lines(q, found) if found else {}
        sessions = self._sessions_by_id([sid for sid, _ in found])
        # A row gone since (a sample imported again) is no hit.
        return [
            SearchHit(sessions[sid], *lines[rid])
            for sid, rid in found
            if sid in sessions and rid in lines
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
        found = self._newest_matches(
            q, Filters.of(live=live, since=since, user=user, node=node), limit
        )
        sessions = self._sessions_by_id([sid for sid, _ in found])
        return [sessions[sid] for sid, _ in found if sid in sessions]

    # Text extraction's storage
    def text_state(self, session_id: str) -> TextState | None:
        rows = self._select(
            "SELECT recording_path, status, text_offset, text_seq, text_t, text_carry, "
            "text_carry_t, text_done FROM sessions WHERE id = ?",
            [session_id],
        )
        if not rows:
            return None
        path, status, offset, seq, t, carry, carry_t, done = rows[0]
        return TextState(
            path, status, int(offset), int(seq), float(t), bytes(carry or b""), carry_t, bool(done)
        )

    def store_text(
        self, session_id: str, expected: int, state: TextState, rows: list[TextRow]
    ) -> bool:
        with self.transaction():
            now = self._select(
                f"SELECT text_offset, {columns(TEXT_ROW_COPIES)} FROM sessions WHERE id = ?"
                + self.dialect.lock_rows,
                [session_id],
            )
            if not now or now[0][0] != expected:
                return False
            self._insert_text(session_id, now[0][1:], [TextRow(*row) for row in rows])
            self._change(
                "UPDATE sessions SET text_offset = ?, text_seq = ?, text_t = ?, "
                "text_carry = ?, text_carry_t = ?, text_done = ? WHERE id = ?",
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
        rows = self._select(
            "SELECT id FROM sessions WHERE text_done = 0 AND recording_path IS NOT NULL"
        )
        return [str(r[0]) for r in rows]

    def give_up_text(self, session_id: str) -> None:
        self._change("UPDATE sessions SET text_done = 1 WHERE id = ?", [session_id])

    # Commands
    def store_commands(self, session_id: str, commands: list[CommandRow]) -> None:
        with self.transaction():
            self._replace_commands(session_id, commands)
            self._change("UPDATE sessions SET commands_done = 1 WHERE id = ?", [session_id])

    def pending_commands(self) -> list[str]:
        rows = self._select(
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
        filters = Filters.of(since=since, user=user, node=node, session_id=session_id)
        if search is not None:
            found = self._search_commands(search, filters, session_id is not None, limit)
            if session_id is None:  # the page of the newest read, in time order
                found.sort(key=lambda c: c.time, reverse=True)
            return found
        order = "c.t" if session_id is not None else 'c."time" DESC, c.id DESC'
        return self._command_rows("commands c", filters.where("c", '"time"'), order, limit)

    def _command_rows(
        self, source: str, where: Where, order: str, limit: int | None
    ) -> list[CommandRow]:
        """Commands from ``source`` (``commands c``, joined to what else it needs)."""
        sql = f"SELECT {columns(COMMAND_COLUMNS, 'c')} FROM {source} {where} ORDER BY {order}"
        return [CommandRow(*r) for r in self._select(sql + limit_clause(limit), where.params)]

    # Terminations
    def _request_termination(self, session_id: str, by: str, reason: str) -> bool:
        changed = self._change(
            "UPDATE sessions SET terminated_by = ?, termination_reason = ? "
            "WHERE id = ? AND status = 'live'",
            [by, self.dialect.text(reason), session_id],
        )
        return changed > 0

    def termination_requests(self, session_ids: list[str]) -> list[TerminationRequest]:
        found: list[TerminationRequest] = []
        for among, params in self.dialect.among("id", session_ids):
            rows = self._select(
                "SELECT id, terminated_by, termination_reason FROM sessions "
                f"WHERE {among} AND status = 'live' AND terminated_by IS NOT NULL",
                params,
            )
            found += [TerminationRequest(*r) for r in rows]
        return found

    # Retention
    def expired_sessions(self, ended_before: float, limit: int | None = None) -> list[Session]:
        sql = (
            f"SELECT {SESSION_COLUMNS_SQL} FROM sessions WHERE status != 'live' "
            'AND coalesce("end", start) < ? '
            "AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.session_id = sessions.id) "
            'ORDER BY coalesce("end", start), id'
        )
        return self._session_rows(sql + limit_clause(limit), [ended_before])

    def remove_sessions(self, session_ids: list[str]) -> int:
        removed = 0
        for among, params in self.dialect.among("id", session_ids):
            with self.transaction():
                over = [
                    str(r[0])
                    for r in self._select(
                        f"SELECT id FROM sessions WHERE {among} AND status != 'live' "
                        f"AND id NOT IN {HELD}{self.dialect.lock_rows}",  # held: kept
                        params,
                    )
                ]
                if not over:
                    continue
                self._remove_text(over)
                self._remove_own(over)
                within, ids = self.dialect.within("session_id", over)
                for table in ("commands", "reviews", "views"):
                    self._change(f"DELETE FROM {table} WHERE {within}", ids)
                within, ids = self.dialect.within("id", over)
                removed += self._change(f"DELETE FROM sessions WHERE {within}", ids)
        return removed

    def count_failures(self, before: float) -> int:
        return int(self._select('SELECT count(*) FROM failures WHERE "time" < ?', [before])[0][0])

    def remove_failures(self, before: float) -> int:
        with self.transaction():
            return self._change('DELETE FROM failures WHERE "time" < ?', [before])

    # Recovery
    def _live_rows(self) -> list[LiveRow]:
        rows = self._select(
            "SELECT id, owner, start, updated, recording_path FROM sessions WHERE status = 'live'"
        )
        return [LiveRow(*r) for r in rows]

    def _mark_interrupted(self, session_id: str, end: float, anchor: str | None) -> bool:
        changed = self._change(
            "UPDATE sessions SET status = 'interrupted', \"end\" = ?, recording_hash = ? "
            "WHERE id = ? AND status = 'live'",
            [end, anchor, session_id],
        )
        return changed > 0

    # Migration (auditor migrate)
    def copied_sessions(self, session_ids: list[str]) -> dict[str, Session]:
        found: dict[str, Session] = {}
        for among, params in self.dialect.among("id", session_ids):
            sql = (
                f"SELECT {SESSION_COLUMNS_SQL} FROM sessions WHERE {among} "
                "AND text_done = 1 AND commands_done = 1"
            )
            found.update((s.id, s) for s in self._session_rows(sql, params))
        return found

    def failure_ids(self, failure_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for among, params in self.dialect.among("id", failure_ids):
            found.update(
                str(r[0]) for r in self._select(f"SELECT id FROM failures WHERE {among}", params)
            )
        return found
