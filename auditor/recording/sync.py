"""Live recordings on the disk, not only in the page cache: one thread that syncs.

A flush hands a recording's bytes to the kernel; a power cut or a kernel
panic takes whatever the page cache still holds (up to 30 s of every live
session). ``RecordingSyncer`` makes the flushed bytes durable:

- While a recording grows: a writer that wrote since its last sync is synced
  (``fdatasync``, the recording then its ``.idx``) as soon as its last sync is
  ``interval`` old, so a steady session is synced right after each flush and
  a bulk transfer that flushes every MiB costs one sync an interval, not one
  per write. ``interval`` 0 syncs after every flush.
- At creation: the new file, its sidecar and the directories that name them
  (``fsync``) before the index row that points to it is committed.
- At seal: the last bytes before the row says ended or the upload starts.

One thread decides and makes the calls (a large round shared with three
helpers, so that the filesystem's journal commits them together), so neither
the event loop nor the recording thread ever waits on the disk, and the
files due together are synced in one round. The syncer syncs its own
duplicates of each writer's descriptors and its thread is the only one to
close them: a writer that closes its file mid-round never has that number
reused under a sync (which would sync another file, or fail).
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from auditor.recording.writer import RecordingWriter

log = logging.getLogger("auditor.recording")
# A round also takes the files due within this part of an interval (0.1 s at most):
# a little early for them, and one wake-up instead of one each.
SHARE = 0.1
WORKERS = 4  # threads a large round is shared between (the syncer's and three helpers)


@dataclass
class SyncStats:
    """What the thread did: ``calls`` fsync/fdatasync calls, ``files`` recordings
    synced (each a recording and its sidecar), ``rounds`` wake-ups that synced,
    ``seconds`` spent in the calls."""

    calls: int = 0
    files: int = 0
    rounds: int = 0
    seconds: float = 0.0


@dataclass(eq=False)
class _Tracked:
    path: Path
    fd: int  # duplicates, closed only by the syncer's thread
    index_fd: int
    last_sync: float = -math.inf
    dirty: bool = False
    due: float = math.inf
    created: bool = False  # the creation's fsync (file and directories) is owed
    ending: bool = False  # sealed or discarded: the last round closes it
    synced_end: bool = True  # False for a discarded recording: closed without a sync
    waiters: list[Future[None]] = field(default_factory=list)


class RecordingSyncer:
    """``interval`` seconds at most between a write and its sync; 0 after every
    flush; None (``recording_sync: off``) never: nothing is tracked or synced."""

    def __init__(self, interval: float | None) -> None:
        self.interval = interval
        self.stats = SyncStats()
        self._tracked: dict[int, _Tracked] = {}  # id(writer) -> its state
        self._due: list[tuple[float, int, _Tracked]] = []  # a heap; stale entries skipped
        self._urgent: list[_Tracked] = []  # creations and seals: this round
        self._count = 0
        self._stopping = False
        self._closed = False  # the thread has ended: a late seal syncs in its caller
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(WORKERS - 1, thread_name_prefix="auditor-sync-help")
        if interval is not None:
            self._thread = threading.Thread(target=self._run, name="auditor-sync", daemon=True)
            self._thread.start()

    @property
    def enabled(self) -> bool:
        return self.interval is not None

    # From the proxy's threads.
    def track(self, writer: RecordingWriter) -> Future[None]:
        """Follow a new writer's flushes; done once its creation is on the disk."""
        fut: Future[None] = Future()
        if self.interval is None:
            fut.set_result(None)
            return fut
        fd, index_fd = writer.dup_descriptors()
        state = _Tracked(writer.path, fd, index_fd, created=True, waiters=[fut])
        with self._cond:
            if not self._closed:
                self._tracked[id(writer)] = state
                self._urgent.append(state)
                self._cond.notify()
                writer.on_write = lambda: self._mark(state)
                return fut
        os.close(fd)  # the proxy has stopped: nothing follows it any more
        os.close(index_fd)
        fut.set_result(None)
        return fut

    def seal(self, writer: RecordingWriter) -> Future[None]:
        """After ``writer.close()``: done once the sealed file is on the disk."""
        return self._end(writer, synced=True)

    def forget(self, writer: RecordingWriter) -> None:
        """A recording thrown away (a refused session): no more syncs of it."""
        self._end(writer, synced=False)

    def unsealed(self) -> set[Path]:
        """Recordings not yet sealed and synced: no upload may take them yet."""
        with self._cond:
            return {state.path for state in self._tracked.values()}

    def close(self) -> None:
        """Sync what is pending (seals first: stop() has sealed every recording), then end."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        self._pool.shutdown()

    def _end(self, writer: RecordingWriter, synced: bool) -> Future[None]:
        fut: Future[None] = Future()
        with self._cond:
            state = self._tracked.pop(id(writer), None)
            if state is not None:
                writer.on_write = None
                state.ending, state.synced_end = True, synced
                state.waiters.append(fut)
                if not self._closed:
                    self._urgent.append(state)
                    self._cond.notify()
                    return fut
        if state is not None:  # after close(): nobody else touches it now
            waiters, state.waiters = state.waiters, []
            self._sync([state] if synced else [], [state], waiters)
        else:
            fut.set_result(None)  # off, or never tracked
        return fut

    def _mark(self, state: _Tracked) -> None:
        """From the writer, after each write: due when its last sync is an interval old."""
        assert self.interval is not None
        with self._cond:
            if state.dirty or state.ending:
                return
            state.dirty = True
            state.due = max(time.monotonic(), state.last_sync + self.interval)
            self._count += 1
            heapq.heappush(self._due, (state.due, self._count, state))
            if self._due[0][2] is state:  # sooner than the thread means to wake
                self._cond.notify()

    # The thread.
    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._take()
                if batch is None:
                    return
                started = time.monotonic()
                # What this round owes, as things stand now: a seal or a write that
                # comes while its calls run waits for the next round (its bytes may
                # be later than the calls), and so does the closing of its copies.
                waiters: list[Future[None]] = []
                for state in batch:
                    state.dirty, state.due, state.last_sync = False, math.inf, started
                    waiters += state.waiters
                    state.waiters = []
                todo = [state for state in batch if state.synced_end]
                closing = [state for state in batch if state.ending]
            self._sync(todo, closing, waiters)

    def _take(self) -> list[_Tracked] | None:
        """Under the lock: wait for what is due; None once stopping with nothing left."""
        assert self.interval is not None
        due = self._due
        while True:
            now = time.monotonic()
            if not (self._urgent or self._stopping or (due and due[0][0] <= now)):
                self._cond.wait(due[0][0] - now if due else None)
                continue
            # A round: what is urgent, what is due, and what would be due very soon.
            soon = now + SHARE * min(1.0, self.interval)
            batch, self._urgent = self._urgent, []
            while due and (due[0][0] <= soon or self._stopping):
                when, _, state = heapq.heappop(due)
                if state.dirty and state.due == when and not state.ending:
                    batch.append(state)  # else marked again since, or ended: stale
            if batch:
                return list(dict.fromkeys(batch))  # a creation sealed at once: one entry
            if self._stopping:
                self._closed = True
                return None

    def _sync(
        self, todo: list[_Tracked], closing: list[_Tracked], waiters: list[Future[None]]
    ) -> None:
        t0 = time.perf_counter()
        # A few calls at once, so that the journal commits them together: on ext4,
        # 300 fdatasyncs one after another took 0.7 ms each, four at a time 0.15 ms.
        parts = [todo[i::WORKERS] for i in range(WORKERS)] if len(todo) > 1 else [todo]
        helping = [self._pool.submit(_sync_files, part) for part in parts[1:] if part]
        directories = _sync_files(parts[0])
        for helper in helping:
            directories |= helper.result()
        calls = 2 * len(todo) + sum(_fsync_directory(d) for d in directories)
        elapsed = time.perf_counter() - t0
        with self._cond:
            self.stats.calls += calls
            self.stats.files += len(todo)
            self.stats.rounds += 1
            self.stats.seconds += elapsed
        for state in closing:
            for fd in (state.fd, state.index_fd):
                try:
                    os.close(fd)
                except OSError as exc:
                    log.error("%s: %s", state.path, exc.strerror)
        for fut in waiters:
            fut.set_result(None)


def _sync_files(states: list[_Tracked]) -> set[Path]:
    """Each recording then its sidecar; the directories that name new ones."""
    directories: set[Path] = set()
    for state in states:
        try:
            if state.created:
                # The new file and the directories that name it (the writer may
                # have made recordings/ and its subdirectory just now).
                state.created = False
                os.fsync(state.fd)
                os.fsync(state.index_fd)
                directories.update((state.path.parent, state.path.parent.parent))
            else:
                # The recording before its .idx: an index entry on the disk never
                # points past what the recording has there.
                os.fdatasync(state.fd)
                os.fdatasync(state.index_fd)
        except OSError as exc:
            log.error("%s: cannot sync to the disk: %s", state.path, exc.strerror)
    return directories


def _fsync_directory(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        log.error("%s: cannot sync to the disk: %s", path, exc.strerror)
        return 0
    try:
        os.fsync(fd)
    except OSError as exc:
        log.error("%s: cannot sync to the disk: %s", path, exc.strerror)
    finally:
        os.close(fd)
    return 1
