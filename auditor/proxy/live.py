"""Live sessions for the rest of a fleet: spool growth copied to the shared index.

With a shared index (PostgreSQL), a TUI or ``auditor tail --live`` on another
machine cannot read this proxy's spool. The recording thread writes each
live session to the spool as always; this thread, with its own connection,
follows each spool file's ``.idx`` sidecar (the writer adds an entry after
every flush) and publishes each flush's bytes with that entry, so a follower
rebuilds the same file and the same index entries (``replay.remote``). Only
whole flushes go out: a follower never sees half a record.

Only sessions someone follows from elsewhere are published (a follower
says so in ``live_watch``; this looks twice a second): the database does
not carry a copy of every byte of every session, and a bulk transfer nobody
watches costs nothing more than on one machine. A session that gains a
follower is published from its start.

The lease that tells other proxies this one still carries its live sessions
is not kept here: ``RecordingProxy`` renews it on its sweep
(``auditor.proxy.service``), and ``auditor.upkeep.recovery`` reads it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from auditor.errors import AuditorError
from auditor.index import SessionIndex
from auditor.index.rows import LiveChunk
from auditor.recording.format import INDEX_ENTRY, index_path

log = logging.getLogger("auditor.proxy")
PUBLISH_INTERVAL = 0.1
WATCH_LOOK = 0.5  # seconds between looks at which sessions are followed
CHUNK_BYTES = 1 << 20  # flushes are grouped into chunks up to about this size
# The writer's flush interval when followers elsewhere wait for output (1 s alone).
LIVE_FLUSH_INTERVAL = 0.2


@dataclass
class _Spool:
    path: Path
    offset: int = 0  # published up to here
    data: BinaryIO | None = None
    index: BinaryIO | None = None
    pending: bytes = b""  # a partly written .idx entry
    final: list[Future[None]] = field(default_factory=list)

    def close(self) -> None:
        for fh in (self.data, self.index):
            if fh is not None:
                fh.close()


class LivePublisher:
    def __init__(self, open_index: Callable[[], SessionIndex]) -> None:
        self._open_index = open_index
        self._index: SessionIndex | None = None
        self._lock = threading.Lock()
        self._spools: dict[str, _Spool] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failing = False
        self._watched: set[str] = set()
        # Which sessions are followed, for the proxy's loop (replaced whole, never mutated).
        self.watched_now: frozenset[str] = frozenset()
        self._next_look = 0.0
        self._thread = threading.Thread(target=self._run, name="auditor-live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, session_id: str, path: Path) -> None:
        with self._lock:
            self._spools[session_id] = _Spool(path)

    def final(self, session_id: str) -> Future[None]:
        """Publish what the sealed recording still holds; done when it is out (or
        could not go: the database is away)."""
        fut: Future[None] = Future()
        with self._lock:
            spool = self._spools.get(session_id)
            if spool is None:
                fut.set_result(None)
            else:
                spool.final.append(fut)
        self._wake.set()
        return fut

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(PUBLISH_INTERVAL)
                self._wake.clear()
                self._pass()
            self._pass()
        finally:
            with self._lock:
                spools, self._spools = list(self._spools.values()), {}
            for spool in spools:
                spool.close()
                _resolve(spool.final)
            if self._index is not None:
                self._index.close()

    def _pass(self) -> None:
        with self._lock:
            spools = list(self._spools.items())
        if spools and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + WATCH_LOOK
            try:
                self._watched = self._connected().watched([sid for sid, _ in spools])
                self.watched_now = frozenset(self._watched)
            except AuditorError as exc:
                self._trouble(exc)
        for session_id, spool in spools:
            finals = list(spool.final)
            if session_id not in self._watched:
                if finals:
                    self._drop(session_id, spool, finals)
                continue
            try:
                self._publish(session_id, spool)
            except (AuditorError, OSError) as exc:
                self._trouble(exc)
                if finals:  # the session ends anyway: its row must not wait for us
                    self._drop(session_id, spool, finals)
                continue
            if finals:
                self._drop(session_id, spool, finals)

    def _drop(self, session_id: str, spool: _Spool, finals: list[Future[None]]) -> None:
        with self._lock:
            self._spools.pop(session_id, None)
        spool.close()
        _resolve(finals)

    def _publish(self, session_id: str, spool: _Spool) -> None:
        if spool.index is None:
            spool.index = open(index_path(spool.path), "rb")  # noqa: SIM115 (kept open)
            spool.data = open(spool.path, "rb")  # noqa: SIM115
        raw = spool.pending + spool.index.read()
        size = INDEX_ENTRY.size
        entries = [INDEX_ENTRY.unpack_from(raw, i) for i in range(0, len(raw) - size + 1, size)]
        spool.pending = raw  # entries stay pending until their bytes are out
        last = None
        for n, entry in enumerate(entries):  # (offset, t, seq) after each flush
            last = n
            if entry[0] - spool.offset >= CHUNK_BYTES:
                self._send(session_id, spool, entry)
                spool.pending, last = raw[(n + 1) * size :], None
        if last is not None:
            self._send(session_id, spool, entries[last])
            spool.pending = raw[(last + 1) * size :]

    def _send(self, session_id: str, spool: _Spool, end: tuple[int, float, int]) -> None:
        offset, t, seq = end
        if offset <= spool.offset:
            return  # nothing new (the entry of the header, written at create)
        assert spool.data is not None
        spool.data.seek(spool.offset)
        data = spool.data.read(offset - spool.offset)
        if len(data) != offset - spool.offset:
            raise OSError(f"{spool.path}: shorter than its index says")
        self._connected().publish_live(session_id, LiveChunk(spool.offset, data, t, seq))
        spool.offset = offset
        if self._failing:
            self._failing = False
            log.info("live output reaches the shared index again")

    def _connected(self) -> SessionIndex:
        if self._index is None:
            self._index = self._open_index()
        return self._index

    def _trouble(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning("live output not published (followers elsewhere wait): %s", exc)


def _resolve(futures: list[Future[None]]) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_result(None)


def live_flush_interval(index: SessionIndex) -> float | None:
    """The writer's flush interval with followers elsewhere; None: its default."""
    return LIVE_FLUSH_INTERVAL if index.shares_live else None
