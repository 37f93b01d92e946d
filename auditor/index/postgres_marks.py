"""Reviews, views and holds in the shared index (``marks`` says what they are)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from auditor.index.marks import Hold, MarkFilter, Review, SessionMarks, View
from auditor.index.rows import Session

if TYPE_CHECKING:
    import psycopg


class PostgresMarks(SessionMarks):
    if TYPE_CHECKING:

        def _execute(self, sql: Any, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]: ...

        def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

        def _transaction(self) -> AbstractContextManager[None]: ...

    def _insert_review(self, review: Review) -> None:
        self._execute(
            'INSERT INTO reviews (session_id, reviewer, "time", note, t) '
            "VALUES (%s, %s, %s, %s, %s)",
            [review.session_id, review.reviewer, review.time, review.note, review.t],
        )

    def _insert_view(self, view: View) -> None:
        self._execute(
            'INSERT INTO views (session_id, viewer, what, "time") VALUES (%s, %s, %s, %s)',
            [view.session_id, view.viewer, view.what, view.time],
        )

    def _insert_hold(self, hold: Hold) -> bool:
        cur = self._execute(
            'INSERT INTO holds (session_id, held_by, reason, "time") VALUES (%s, %s, %s, %s) '
            "ON CONFLICT (session_id) DO NOTHING",
            [hold.session_id, hold.held_by, hold.reason, hold.time],
        )
        return cur.rowcount > 0

    def _delete_hold(self, session_id: str) -> Hold | None:
        rows = self._rows(
            'DELETE FROM holds WHERE session_id = %s RETURNING session_id, held_by, reason, "time"',
            [session_id],
        )
        return Hold(*rows[0]) if rows else None

    def reviews(self, session_ids: list[str]) -> dict[str, list[Review]]:
        found: dict[str, list[Review]] = {}
        rows = self._rows(
            'SELECT session_id, reviewer, "time", note, t FROM reviews '
            'WHERE session_id = ANY(%s) ORDER BY "time", id',
            [session_ids],
        )
        for row in rows:
            found.setdefault(row[0], []).append(Review(*row))
        return found

    def views(self, session_ids: list[str]) -> dict[str, list[View]]:
        found: dict[str, list[View]] = {}
        rows = self._rows(
            'SELECT session_id, viewer, what, "time" FROM views '
            'WHERE session_id = ANY(%s) ORDER BY "time", id',
            [session_ids],
        )
        for row in rows:
            found.setdefault(row[0], []).append(View(*row))
        return found

    def holds(self, session_ids: list[str]) -> dict[str, Hold]:
        rows = self._rows(
            'SELECT session_id, held_by, reason, "time" FROM holds WHERE session_id = ANY(%s)',
            [session_ids],
        )
        return {row[0]: Hold(*row) for row in rows}

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
        from auditor.index.postgres import _SESSION, _filters, _where

        clauses, params = _filters(live, user, node, since)
        if marks.unreviewed:
            clauses.append("NOT EXISTS (SELECT 1 FROM reviews r WHERE r.session_id = sessions.id)")
        if marks.reviewed_by is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM reviews r WHERE r.session_id = sessions.id "
                "AND r.reviewer = %s)"
            )
            params.append(marks.reviewed_by)
        if marks.held:
            clauses.append("EXISTS (SELECT 1 FROM holds h WHERE h.session_id = sessions.id)")
        sql = f"SELECT {_SESSION} FROM sessions {_where(clauses)} ORDER BY start DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Session(*r) for r in self._rows(sql, params)]
