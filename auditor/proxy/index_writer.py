"""The index's worker thread: the proxy's index writes, typed, and what waits out an outage.

SQLite (or a round trip to PostgreSQL) never stalls the event loop: every
call runs on one thread that owns the index's connection. What the proxy
writes is a method here that mypy checks against ``SessionIndex``; the
writes that must survive the database going away say so where they are
declared (``kept_while_away``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from auditor.index import FailureKind, SessionIndex
from auditor.recording.anchor import SignedAnchor
from auditor.storage import StorageError

log = logging.getLogger("auditor.proxy")
BACKLOG_LIMIT = 100_000
RETRY_EVERY = 2.0

P = ParamSpec("P")
T = TypeVar("T")
# One index operation, its arguments bound: run on the index's thread.
IndexCall = Callable[[SessionIndex], T]


def kept_while_away(
    write: Callable[Concatenate[IndexWriter, P], IndexCall[T]],
) -> Callable[Concatenate[IndexWriter, P], Future[T | None]]:
    """Marks a write that must not be lost while the database is away: it
    waits in the backlog, in order, and goes in once the index is back (a
    session that ends during an outage ends in the index). Its future then
    holds None at once. The decorated method says what to write; calling it
    queues the write."""

    @functools.wraps(write)
    def queue(writer: IndexWriter, /, *args: P.args, **kwargs: P.kwargs) -> Future[T | None]:
        return writer.submit(
            writer._kept_while_away, write(writer, *args, **kwargs), write.__name__
        )

    return queue


class IndexWriter:
    """Serialises index writes on a worker thread that owns the index's connection.

    A shared index can go away (a database restart, a network cut): writes
    that record what happened to sessions already under way wait in a
    backlog and go in order once it is back (``kept_while_away``); any other
    call is refused until then. ``available`` says whether the last write got
    through, so the proxy refuses new sessions meanwhile.
    """

    def __init__(self, data_dir: Path, uri: str | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditor-index")
        self._index: SessionIndex | None = None
        self.data_dir = data_dir
        self.uri = uri  # storage.audit_events_uri: None is SQLite in the data dir
        self.available = True
        self.trouble: str | None = None  # why not, as one line
        self._backlog: deque[tuple[str, IndexCall[Any]]] = deque()
        self._next_try = 0.0
        self.submit(self._open).result()

    def _open(self) -> None:
        # Text extraction runs in its own process (upkeep.worker_process), not a thread here.
        self._index = SessionIndex.open(self.data_dir, uri=self.uri)

    @property
    def index(self) -> SessionIndex:
        assert self._index is not None
        return self._index

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """``fn`` on the index's thread, in turn, outside the backlog: a failure
        is its own and says nothing of whether the index is away."""
        fut = self._pool.submit(fn, *args, **kwargs)
        fut.add_done_callback(_log_error)
        return fut

    def call(
        self, fn: Callable[Concatenate[SessionIndex, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> Future[T]:
        """``fn(index, *args, **kwargs)`` on the index's thread, after what waits in
        the backlog; refused (``StorageError``) while the index is away."""
        return self.submit(self._refused_while_away, lambda index: fn(index, *args, **kwargs))

    async def acall(
        self, fn: Callable[Concatenate[SessionIndex, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await asyncio.wrap_future(self.call(fn, *args, **kwargs))

    # The proxy's writes. Those of a session already under way are kept while
    # the index is away; a new session's row is refused with the session.
    def start_session(self, session_id: str | None = None, **fields: Any) -> Future[str]:
        return self.call(lambda index: index.start_session(session_id, **fields))

    @kept_while_away
    def update_session(self, /, session_id: str, **fields: Any) -> IndexCall[None]:
        return lambda index: index.update_session(session_id, **fields)

    @kept_while_away
    def end_session(
        self,
        /,
        session_id: str,
        status: str = "ended",
        exit_status: int | None = None,
        anchor: str | None = None,
        signed: SignedAnchor | None = None,
        **fields: Any,
    ) -> IndexCall[None]:
        return lambda index: index.end_session(
            session_id, status, exit_status, anchor=anchor, signed=signed, **fields
        )

    @kept_while_away
    def record_failure(self, /, kind: FailureKind, message: str, **fields: Any) -> IndexCall[str]:
        return lambda index: index.record_failure(kind, message, **fields)

    def renew_lease(self, address: str | None = None) -> Future[None]:
        return self.call(lambda index: index.renew_lease(address))

    def forget_live(self, ended_before: float) -> Future[int]:
        return self.call(lambda index: index.forget_live(ended_before))

    # On the index's thread
    def _refused_while_away(self, call: IndexCall[T]) -> T:
        if self._backlog and not self._write_backlog():
            raise StorageError(self.trouble or "the index is away")
        try:
            result = call(self.index)
        except StorageError as exc:
            self._away(exc)
            raise
        self._back()
        return result

    def _kept_while_away(self, call: IndexCall[T], name: str) -> T | None:
        if self._backlog and not self._write_backlog():
            self._keep(name, call)
            return None
        try:
            result = call(self.index)
        except StorageError as exc:
            self._away(exc)
            self._keep(name, call)
            return None
        self._back()
        return result

    def _keep(self, name: str, call: IndexCall[Any]) -> None:
        if len(self._backlog) >= BACKLOG_LIMIT:
            log.error("index backlog full: %s of a session dropped", name)
            return
        self._backlog.append((name, call))

    def _write_backlog(self) -> bool:
        """Write what waited, in order; False if the index is still away."""
        if time.monotonic() < self._next_try:
            return False
        while self._backlog:
            _, call = self._backlog[0]
            try:
                call(self.index)
            except StorageError as exc:
                self._away(exc)
                return False
            self._backlog.popleft()
        self._back()
        return True

    def _away(self, exc: StorageError) -> None:
        self._next_try = time.monotonic() + RETRY_EVERY
        if self.available:
            log.error("%s: new sessions are refused until it is back", exc)
        self.available, self.trouble = False, str(exc)

    def _back(self) -> None:
        if not self.available:
            log.warning("the index is back: new sessions are accepted again")
        self.available, self.trouble = True, None

    async def probe(self) -> bool:
        """Whether the index takes writes now (a new session is about to need it)."""
        if self.available:
            return True
        try:
            await asyncio.wrap_future(self.renew_lease())
        except StorageError:
            return False
        return self.available

    def close(self) -> None:
        def shut() -> None:
            if self._index is not None:
                self._index.close()

        self._pool.submit(shut).result()
        self._pool.shutdown(wait=True)


def _log_error(fut: Future[Any]) -> None:
    exc = fut.exception()
    if isinstance(exc, StorageError):
        log.debug("index write failed: %s", exc)  # said once, when it went away
    elif exc is not None:
        log.error("index write failed: %r", exc)
