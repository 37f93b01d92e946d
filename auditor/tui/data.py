"""What the TUI asks the index, run off the UI thread.

SQLite connections belong to the thread that opened them, so ``IndexReader``
keeps one read connection per worker thread of a small pool and hands
coroutines to the screens: a search or a page of 100,000 sessions never
runs on the event loop that draws the screen and serves the proxy.

The queries the index API does not offer yet (status filter, keyset
pagination, per-kind failure counts and activity) live here, over the
index's own row types.
"""

from __future__ import annotations

import asyncio
import shlex
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from auditor.index import Failure, SearchHit, Session, SessionIndex
from auditor.index.rows import SESSION_COLUMNS

T = TypeVar("T")
STATUSES = ("live", "ended", "interrupted")
_COLUMNS = ", ".join(f"[{c}]" for c in SESSION_COLUMNS)


@dataclass(frozen=True)
class SessionFilter:
    """``user:joe node:db status:ended``, as typed into the filter box."""

    user: str | None = None
    node: str | None = None
    status: str | None = None

    @classmethod
    def parse(cls, text: str) -> SessionFilter:
        """Unknown keys or statuses raise ValueError with a message for the user."""
        values: dict[str, str] = {}
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise ValueError(f"filter: {exc}") from None
        for word in words:
            key, sep, value = word.partition(":")
            if not sep or key not in ("user", "node", "status") or not value:
                raise ValueError(
                    f"filter: expected user:NAME node:NAME status:STATUS, not {word!r}"
                )
            if key == "status" and value not in STATUSES:
                raise ValueError(f"filter: status is one of {', '.join(STATUSES)}, not {value!r}")
            values[key] = value
        return cls(**values)

    def accepts(self, s: Session) -> bool:
        return (
            (self.user is None or s.user == self.user)
            and (self.node is None or s.node == self.node)
            and (self.status is None or s.status == self.status)
        )

    def where(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column in ("user", "node", "status"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"[{column}] = ?")
                params.append(value)
        return clauses, params


@dataclass(frozen=True)
class SessionPage:
    """Sessions for the table: live ones on top, then a page of past ones."""

    live: list[Session]
    past: list[Session]
    more: bool  # another page of past sessions follows
    hits: dict[str, SearchHit] = field(default_factory=dict)


def live_sessions(index: SessionIndex, flt: SessionFilter) -> list[Session]:
    if flt.status not in (None, "live"):
        return []
    clauses, params = flt.where()
    clauses.append("status = 'live'")
    sql = f"SELECT {_COLUMNS} FROM sessions WHERE {' AND '.join(clauses)} ORDER BY start DESC"
    return [Session(*r) for r in index.conn.execute(sql, params)]


def past_sessions(
    index: SessionIndex, flt: SessionFilter, after: Session | None, limit: int
) -> list[Session]:
    """Newest first, ``limit`` rows after ``after`` (keyset paging: no OFFSET scans)."""
    if flt.status == "live":
        return []
    clauses, params = flt.where()
    clauses.append("status != 'live'")
    if after is not None:
        clauses.append("(start < ? OR (start = ? AND id < ?))")
        params += [after.start, after.start, after.id]
    sql = (
        f"SELECT {_COLUMNS} FROM sessions WHERE {' AND '.join(clauses)} "
        f"ORDER BY start DESC, id DESC LIMIT {int(limit)}"
    )
    return [Session(*r) for r in index.conn.execute(sql, params)]


def session_page(
    index: SessionIndex,
    flt: SessionFilter,
    search: str | None,
    limit: int,
    after: Session | None = None,
) -> SessionPage:
    if search:
        hits = index.search(
            search,
            user=flt.user,
            node=flt.node,
            live=None if flt.status is None else flt.status == "live",
            limit=limit,
        )
        kept = [h for h in hits if flt.accepts(h.session)]
        return SessionPage(
            live=[h.session for h in kept if h.session.live],
            past=[h.session for h in kept if not h.session.live],
            more=False,
            hits={h.session.id: h for h in kept},
        )
    live = live_sessions(index, flt) if after is None else []
    past = past_sessions(index, flt, after, limit + 1)
    return SessionPage(live, past[:limit], len(past) > limit)


def session_count(index: SessionIndex) -> int:
    return int(index.conn.execute("SELECT count(*) FROM sessions").fetchone()[0])


@dataclass(frozen=True)
class KindSummary:
    kind: str
    count: int
    last: float
    activity: list[int]  # failures per bucket, oldest first


def failure_summary(
    index: SessionIndex, now: float, span: float = 24 * 3600, buckets: int = 24
) -> list[KindSummary]:
    """Per kind: count, latest, and activity over the last ``span`` seconds; most frequent first."""
    start = now - span
    width = span / buckets
    activity: dict[str, list[int]] = {}
    for kind, bucket, n in index.conn.execute(
        "SELECT kind, CAST((time - ?) / ? AS INTEGER) AS b, count(*) FROM failures "
        "WHERE time >= ? GROUP BY kind, b",
        [start, width, start],
    ):
        row = activity.setdefault(kind, [0] * buckets)
        row[min(max(int(bucket), 0), buckets - 1)] += n
    rows = index.conn.execute(
        "SELECT kind, count(*), max(time) FROM failures GROUP BY kind ORDER BY count(*) DESC, kind"
    ).fetchall()
    return [
        KindSummary(kind, count, last, activity.get(kind, [0] * buckets))
        for kind, count, last in rows
    ]


def failures_of(index: SessionIndex, kind: str | None, limit: int = 500) -> list[Failure]:
    return index.failures(kind=kind, limit=limit)


class IndexReader:
    """Index reads on their own threads, each with its own SQLite connection.

    Two lanes: searches (which may take a while on a large index) never
    hold up the live refresh and paging, and vice versa.
    """

    LANES = ("main", "search")

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._lanes = {
            lane: ThreadPoolExecutor(1, thread_name_prefix=f"auditor-tui-{lane}")
            for lane in self.LANES
        }
        self._local = threading.local()

    def _index(self) -> SessionIndex:
        index: SessionIndex | None = getattr(self._local, "index", None)
        if index is None:
            index = SessionIndex.open(self.data_dir, background_text=False)
            self._local.index = index
        return index

    def _close_own(self) -> None:
        index: SessionIndex | None = getattr(self._local, "index", None)
        if index is not None:
            index.close()
            self._local.index = None

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
