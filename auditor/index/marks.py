"""What auditors leave on a session: reviews, views and holds (issue 24).

A review says who looked at a session, when, with an optional note and the
moment they cite; a session may collect several and none is ever edited or
removed (only ``prune`` removes them, with their session). A view is one line
of "who watched whom": every replay, export, tail, follow and review. A hold
keeps a session, its recording and its objects past the retention policy
until it is released.

``SessionMarks`` is the index's interface for them; ``SqlMarks`` their SQL,
one text for both engines (``query`` says what differs).
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from auditor.errors import AuditorError
from auditor.index.query import SESSION_COLUMNS_SQL, Engine, Filters, insert, limit_clause
from auditor.index.rows import Session

# What a viewer did: the `what` of a session_viewed line and of a views row.
VIEW_KINDS = ("replay", "export", "tail", "follow", "review")


@dataclass(frozen=True)
class Review:
    session_id: str
    reviewer: str
    time: float  # epoch seconds
    note: str | None = None
    t: float | None = None  # the moment cited, seconds into the recording

    def to_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        del doc["session_id"]
        return doc


@dataclass(frozen=True)
class View:
    session_id: str
    viewer: str
    what: str  # one of VIEW_KINDS
    time: float

    def to_json(self) -> dict[str, Any]:
        return {"viewer": self.viewer, "what": self.what, "time": self.time}


@dataclass(frozen=True)
class Hold:
    session_id: str
    held_by: str
    reason: str
    time: float

    def to_json(self) -> dict[str, Any]:
        return {"by": self.held_by, "reason": self.reason, "time": self.time}


@dataclass(frozen=True)
class MarkFilter:
    """``sessions --unreviewed``, ``--reviewed-by USER``, ``--held``."""

    unreviewed: bool = False
    reviewed_by: str | None = None
    held: bool = False

    @property
    def any(self) -> bool:
        return self.unreviewed or self.reviewed_by is not None or self.held


class SessionMarks(ABC):
    """Reviews, views and holds by full session id (resolve a prefix first)."""

    def add_review(
        self, session_id: str, reviewer: str, note: str | None = None, t: float | None = None
    ) -> Review:
        review = Review(session_id, reviewer, time.time(), note or None, t)
        self._insert_review(review)
        return review

    def record_view(self, session_id: str, viewer: str, what: str) -> View:
        if what not in VIEW_KINDS:
            raise ValueError(f"record_view: what must be one of {VIEW_KINDS}, not {what!r}")
        view = View(session_id, viewer, what, time.time())
        self._insert_view(view)
        return view

    def hold(self, session_id: str, by: str, reason: str) -> Hold:
        """Keep a session past retention; an error if it is held already."""
        hold = Hold(session_id, by, reason, time.time())
        if not self._insert_hold(hold):
            held = self.holds([session_id]).get(session_id)
            who = f" by {held.held_by}: {held.reason}" if held else ""
            raise AuditorError(f"session {session_id[:8]} is already held{who}")
        return hold

    def release(self, session_id: str) -> Hold:
        """The hold that went; an error if there was none."""
        hold = self._delete_hold(session_id)
        if hold is None:
            raise AuditorError(f"session {session_id[:8]} is not held")
        return hold

    def copy_marks(self, source: SessionMarks, session_ids: list[str]) -> int:
        """The reviews, views and holds of ``session_ids`` in ``source``, with their
        own times (``auditor migrate``); those here already are not copied again, so
        a resumed copy adds nothing twice. Returns how many rows it added."""
        added = 0
        have_reviews, have_views = self.reviews(session_ids), self.views(session_ids)
        for sid, reviews in source.reviews(session_ids).items():
            present = set(have_reviews.get(sid, []))
            for review in reviews:
                if review not in present:
                    self._insert_review(review)
                    added += 1
        for sid, views in source.views(session_ids).items():
            seen = set(have_views.get(sid, []))
            for view in views:
                if view not in seen:
                    self._insert_view(view)
                    added += 1
        for hold in source.holds(session_ids).values():
            added += self._insert_hold(hold)
        return added

    def marked(self, session_ids: list[str], marks: MarkFilter) -> set[str]:
        """Those of ``session_ids`` that pass ``marks``."""
        reviews = self.reviews(session_ids)
        held = self.holds(session_ids)
        keep = set()
        for sid in session_ids:
            mine = reviews.get(sid, [])
            if marks.unreviewed and mine:
                continue
            if marks.reviewed_by is not None and not any(
                r.reviewer == marks.reviewed_by for r in mine
            ):
                continue
            if marks.held and sid not in held:
                continue
            keep.add(sid)
        return keep

    @abstractmethod
    def _insert_review(self, review: Review) -> None: ...

    @abstractmethod
    def _insert_view(self, view: View) -> None: ...

    @abstractmethod
    def _insert_hold(self, hold: Hold) -> bool:
        """False (and nothing written) if the session is held already."""

    @abstractmethod
    def _delete_hold(self, session_id: str) -> Hold | None: ...

    @abstractmethod
    def reviews(self, session_ids: list[str]) -> dict[str, list[Review]]:
        """Each session's reviews, oldest first."""

    @abstractmethod
    def views(self, session_ids: list[str]) -> dict[str, list[View]]:
        """Each session's views, oldest first."""

    @abstractmethod
    def holds(self, session_ids: list[str]) -> dict[str, Hold]: ...

    @abstractmethod
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
        """``sessions`` that pass ``marks``, newest first."""


class SqlMarks(Engine, SessionMarks):
    """Reviews, views and holds in either engine's tables."""

    def _insert_review(self, review: Review) -> None:
        names = ("session_id", "reviewer", "time", "note", "t")
        self._change(insert("reviews", names), [getattr(review, n) for n in names])

    def _insert_view(self, view: View) -> None:
        names = ("session_id", "viewer", "what", "time")
        self._change(insert("views", names), [getattr(view, n) for n in names])

    def _insert_hold(self, hold: Hold) -> bool:
        names = ("session_id", "held_by", "reason", "time")
        sql = self.dialect.insert_new("holds", names, "session_id")
        return self._change(sql, [getattr(hold, n) for n in names]) > 0

    def _delete_hold(self, session_id: str) -> Hold | None:
        with self.transaction():
            rows = self._select(
                f'SELECT session_id, held_by, reason, "time" FROM holds WHERE session_id = ?'
                f"{self.dialect.lock_rows}",
                [session_id],
            )
            if not rows:
                return None
            self._change("DELETE FROM holds WHERE session_id = ?", [session_id])
        return Hold(*rows[0])

    def _by_session(self, sql: str, session_ids: list[str]) -> list[tuple[Any, ...]]:
        """``sql``'s rows for the sessions, ``{among}`` in it where they go."""
        found: list[tuple[Any, ...]] = []
        for among, params in self.dialect.among("session_id", session_ids):
            found += self._select(sql.format(among=among), params)
        return found

    def reviews(self, session_ids: list[str]) -> dict[str, list[Review]]:
        found: dict[str, list[Review]] = {}
        sql = 'SELECT session_id, reviewer, "time", note, t FROM reviews WHERE {among} '
        for row in self._by_session(sql + 'ORDER BY "time", id', session_ids):
            found.setdefault(row[0], []).append(Review(*row))
        return found

    def views(self, session_ids: list[str]) -> dict[str, list[View]]:
        found: dict[str, list[View]] = {}
        sql = 'SELECT session_id, viewer, what, "time" FROM views WHERE {among} '
        for row in self._by_session(sql + 'ORDER BY "time", id', session_ids):
            found.setdefault(row[0], []).append(View(*row))
        return found

    def holds(self, session_ids: list[str]) -> dict[str, Hold]:
        sql = 'SELECT session_id, held_by, reason, "time" FROM holds WHERE {among}'
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
        where = Filters.of(live=live, since=since, user=user, node=node).where()
        reviews = "SELECT 1 FROM reviews r WHERE r.session_id = sessions.id"
        if marks.unreviewed:
            where.add(f"NOT EXISTS ({reviews})")
        if marks.reviewed_by is not None:
            where.add(f"EXISTS ({reviews} AND r.reviewer = ?)", marks.reviewed_by)
        if marks.held:
            where.add("EXISTS (SELECT 1 FROM holds h WHERE h.session_id = sessions.id)")
        sql = f"SELECT {SESSION_COLUMNS_SQL} FROM sessions {where} ORDER BY start DESC, id DESC"
        return [Session(*r) for r in self._select(sql + limit_clause(limit), where.params)]
