"""Reviews, views and holds in the embedded index (``marks`` says what they are)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from auditor.index.marks import Hold, MarkFilter, Review, SessionMarks, View
from auditor.index.rows import SESSION_COLUMNS, Session

BATCH = 500  # ids per IN (...): well under SQLite's bound-parameter limit


class SqliteMarks(SessionMarks):
    if TYPE_CHECKING:
        conn: sqlite3.Connection

        def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _insert_review(self, review: Review) -> None:
        self.conn.execute(
            "INSERT INTO reviews (session_id, reviewer, time, note, t) VALUES (?, ?, ?, ?, ?)",
            [review.session_id, review.reviewer, review.time, review.note, review.t],
        )

    def _insert_view(self, view: View) -> None:
        self.conn.execute(
            "INSERT INTO views (session_id, viewer, what, time) VALUES (?, ?, ?, ?)",
            [view.session_id, view.viewer, view.what, view.time],
        )

    def _insert_hold(self, hold: Hold) -> bool:
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO holds (session_id, held_by, reason, time) VALUES (?, ?, ?, ?)",
            [hold.session_id, hold.held_by, hold.reason, hold.time],
        )
        return cur.rowcount > 0

    def _delete_hold(self, session_id: str) -> Hold | None:
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT session_id, held_by, reason, time FROM holds WHERE session_id = ?",
                [session_id],
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM holds WHERE session_id = ?", [session_id])
        return Hold(*row)

    def _by_session(self, sql: str, session_ids: list[str]) -> Iterator[tuple[Any, ...]]:
        for i in range(0, len(session_ids), BATCH):
            batch = session_ids[i : i + BATCH]
            yield from self.conn.execute(sql.format(marks=", ".join("?" * len(batch))), batch)

    def reviews(self, session_ids: list[str]) -> dict[str, list[Review]]:
        found: dict[str, list[Review]] = {}
        sql = (
            "SELECT session_id, reviewer, time, note, t FROM reviews "
            "WHERE session_id IN ({marks}) ORDER BY time, id"
        )
        for row in self._by_session(sql, session_ids):
            found.setdefault(row[0], []).append(Review(*row))
        return found

    def views(self, session_ids: list[str]) -> dict[str, list[View]]:
        found: dict[str, list[View]] = {}
        sql = (
            "SELECT session_id, viewer, what, time FROM views "
            "WHERE session_id IN ({marks}) ORDER BY time, id"
        )
        for row in self._by_session(sql, session_ids):
            found.setdefault(row[0], []).append(View(*row))
        return found

    def holds(self, session_ids: list[str]) -> dict[str, Hold]:
        sql = "SELECT session_id, held_by, reason, time FROM holds WHERE session_id IN ({marks})"
        return {row[0]: Hold(*row) for row in self._by_session(sql, session_ids)}

    def marked_sessions(
        self,
        marks: MarkFilter,
        *,
        live: bool | None = None,
        user: str | None = None,
        node: str | None = None,
        since: float | None = None,
        limit: int | None = 100,
    ) -> list[Session]:
        from auditor.index.sqlite import _cols, _filters

        where, params = _filters(live, user, node, since)
        clauses = [where.removeprefix("WHERE ")] if where else []
        if marks.unreviewed:
            clauses.append("NOT EXISTS (SELECT 1 FROM reviews r WHERE r.session_id = sessions.id)")
        if marks.reviewed_by is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM reviews r WHERE r.session_id = sessions.id "
                "AND r.reviewer = ?)"
            )
            params.append(marks.reviewed_by)
        if marks.held:
            clauses.append("EXISTS (SELECT 1 FROM holds h WHERE h.session_id = sessions.id)")
        sql = f"SELECT {_cols(SESSION_COLUMNS)} FROM sessions"
        if clauses:
            sql += f" WHERE {' AND '.join(clauses)}"
        sql += " ORDER BY start DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Session(*r) for r in self.conn.execute(sql, params)]
