"""What the TUI asks the index, run off the UI thread.

SQLite connections belong to the thread that opened them, so ``IndexReader``
keeps one read connection per worker thread of a small pool and hands
coroutines to the screens: a search or a page of 100,000 sessions never
runs on the event loop that draws the screen and serves the proxy.

Every query is a ``SessionIndex`` method: this module only shapes what
the screens ask for (a page with live sessions on top, what a typed
``filters.SessionFilter`` asks of the index).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from auditor.index import Failure, SearchHit, Session, SessionIndex, open_index, terms
from auditor.index.marks import MarkFilter
from auditor.index.rows import KindSummary
from auditor.replay.remote import Mirrors
from auditor.tui.filters import SessionFilter

T = TypeVar("T")


def _newest_first(sessions: list[Session]) -> list[Session]:
    return sorted(sessions, key=lambda s: (s.start, s.id), reverse=True)


@dataclass(frozen=True)
class SessionPage:
    """Sessions for the table: live ones on top, then a page of past ones."""

    live: list[Session]
    past: list[Session]
    more: bool  # another page of past sessions follows
    hits: dict[str, SearchHit] = field(default_factory=dict)
    # Who reviewed each session shown (in order, each once), and which are held.
    reviewers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    held: frozenset[str] = frozenset()


def _marks(flt: SessionFilter) -> MarkFilter | None:
    """``reviewed:no`` is unreviewed, ``reviewed:yes`` anyone's, else that reviewer's."""
    if flt.reviewed is None:
        return None
    if flt.reviewed == "no":
        return MarkFilter(unreviewed=True)
    return MarkFilter(reviewed_by=None if flt.reviewed == "yes" else flt.reviewed)


def _reviewed_only(index: SessionIndex, flt: SessionFilter, ids: list[str]) -> set[str]:
    marks = _marks(flt)
    if marks is None:
        return set(ids)
    if marks.any:
        return index.marked(ids, marks)
    return set(index.reviews(ids))  # reviewed:yes


def with_marks(index: SessionIndex, page: SessionPage) -> SessionPage:
    """The page filtered by ``reviewed:`` already; the reviewers and holds of its rows."""
    ids = [s.id for s in (*page.live, *page.past)]
    reviews = index.reviews(ids)
    reviewers = {sid: tuple(dict.fromkeys(r.reviewer for r in rs)) for sid, rs in reviews.items()}
    return replace(page, reviewers=reviewers, held=frozenset(index.holds(ids)))


def live_sessions(index: SessionIndex, flt: SessionFilter) -> list[Session]:
    if flt.status not in (None, "live"):
        return []
    found = [s for n in flt.nodes() for s in index.live_sessions(user=flt.user, node=n)]
    return found if flt.label_nodes is None else _newest_first(found)


def past_sessions(
    index: SessionIndex, flt: SessionFilter, after: Session | None, limit: int
) -> list[Session]:
    """Newest first, ``limit`` rows after ``after`` (each labelled node's page, merged)."""
    found = [
        s
        for n in flt.nodes()
        for s in index.page(status=flt.status, user=flt.user, node=n, after=after, limit=limit)
    ]
    return found if flt.label_nodes is None else _newest_first(found)[:limit]


def session_page(
    index: SessionIndex,
    flt: SessionFilter,
    search: str | None,
    limit: int,
    after: Session | None = None,
) -> SessionPage:
    if search:
        hits = [
            hit
            for node in flt.nodes()
            for hit in index.search(
                search,
                user=flt.user,
                node=node,
                live=None if flt.status is None else flt.status == "live",
                limit=limit,
            )
        ]
        kept = [h for h in hits if flt.accepts(h.session)]
        kept += command_hits(index, flt, search, limit, {h.session.id for h in kept})
        if flt.reviewed is not None:
            ok = _reviewed_only(index, flt, [h.session.id for h in kept])
            kept = [h for h in kept if h.session.id in ok]
        kept.sort(key=lambda h: h.session.start, reverse=True)
        return with_marks(
            index,
            SessionPage(
                live=[h.session for h in kept if h.session.live],
                past=[h.session for h in kept if not h.session.live],
                more=False,
                hits={h.session.id: h for h in kept},
            ),
        )
    live = live_sessions(index, flt) if after is None else []
    if flt.reviewed is not None:
        live = [s for s in live if s.id in _reviewed_only(index, flt, [s.id for s in live])]
        past = reviewed_past(index, flt, after, limit + 1)
    else:
        past = past_sessions(index, flt, after, limit + 1)
    return with_marks(index, SessionPage(live, past[:limit], len(past) > limit))


def reviewed_past(
    index: SessionIndex, flt: SessionFilter, after: Session | None, limit: int
) -> list[Session]:
    """Past sessions that pass ``reviewed:``, newest first, ``limit`` after ``after``:
    pages of the unfiltered list, filtered, until enough are found."""
    found: list[Session] = []
    while len(found) < limit:
        page = past_sessions(index, flt, after, max(limit, 200))
        if not page:
            break
        ok = _reviewed_only(index, flt, [s.id for s in page])
        found += [s for s in page if s.id in ok]
        after = page[-1]
    return found[:limit]


COMMAND_MARK = "$ "  # a match in a command the user ran, not in the output


def command_hits(
    index: SessionIndex, flt: SessionFilter, search: str, limit: int, seen: set[str]
) -> list[SearchHit]:
    """Sessions whose commands match and whose output did not, each with its
    newest matching command as the matching line (marked as a command)."""
    words = terms.parse_query(search)
    hits: list[SearchHit] = []
    found = (
        c
        for n in flt.nodes()
        for c in index.commands(user=flt.user, node=n, search=search, limit=limit)
    )
    for c in found:
        if c.session_id in seen:
            continue
        seen.add(c.session_id)
        session = index.get_session(c.session_id)
        if flt.accepts(session):
            line = COMMAND_MARK + terms.first_hit_line(c.line, words)
            hits.append(SearchHit(session, c.t, line))
    return hits


def session_count(index: SessionIndex) -> int:
    return index.session_count()


def failure_summary(
    index: SessionIndex, now: float, span: float = 24 * 3600, buckets: int = 24
) -> list[KindSummary]:
    """Per kind: count, latest, and activity over the last ``span`` seconds; most frequent first."""
    return index.failure_summary(now - span, buckets, now)


def failures_of(index: SessionIndex, kind: str | None, limit: int = 500) -> list[Failure]:
    return index.failures(kind=kind, limit=limit)


class IndexReader:
    """Index reads on their own threads, each with its own SQLite connection.

    Two lanes: searches (which may take a while on a large index) never
    hold up the live refresh and paging, and vice versa.
    """

    LANES = ("main", "search")

    def __init__(self, data_dir: Path, uri: str | None = None) -> None:
        self.data_dir = data_dir
        self.uri = uri  # storage.audit_events_uri
        self._lanes = {
            lane: ThreadPoolExecutor(1, thread_name_prefix=f"auditor-tui-{lane}")
            for lane in self.LANES
        }
        self._local = threading.local()

    def _index(self) -> SessionIndex:
        index: SessionIndex | None = getattr(self._local, "index", None)
        if index is None:
            index = open_index(self.data_dir, self.uri)
            self._local.index = index
        return index

    def _close_own(self) -> None:
        index: SessionIndex | None = getattr(self._local, "index", None)
        if index is not None:
            index.close()
            self._local.index = None

    def mirrors(self) -> Mirrors | None:
        """For a thread that follows sessions (a replay): mirrors of other machines'
        live sessions on a connection of its own, closed with it; None with an
        index on this machine only."""
        if self.uri is None:
            return None
        return Mirrors(open_index(self.data_dir, self.uri), owns_index=True)

    def sync(self, fn: Callable[..., T], *args: Any, lane: str = "main", **kwargs: Any) -> T:
        """Run ``fn(index, ...)`` on a lane's thread and wait: for worker threads."""
        return self._lanes[lane].submit(lambda: fn(self._index(), *args, **kwargs)).result()

    async def __call__(
        self, fn: Callable[..., T], *args: Any, lane: str = "main", **kwargs: Any
    ) -> T:
        """``await reader(fn, ...)``: ``fn(index, ...)`` on a lane's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._lanes[lane], lambda: fn(self._index(), *args, **kwargs)
        )

    def close(self) -> None:
        for pool in self._lanes.values():
            pool.submit(self._close_own)  # by the thread that opened it
            pool.shutdown(wait=True)
