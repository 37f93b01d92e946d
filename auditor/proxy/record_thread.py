"""Recording files are hashed and written on a thread of their own.

On a bulk transfer the SHA-256 chain and the file writes were a fifth of
the event-loop thread's time. Both release the GIL (hashlib on large
buffers, ``os.write``), so on a thread they run beside the loop's SSH work
instead of in its way. The loop keeps only the cheap part: stamping a
chunk's time and queueing it.

One thread serves every recording, so each recording's chunks stay in
order. If the disk falls behind, the backlog is bounded: queueing waits
once ``max_backlog`` bytes are outstanding, which is no worse than the
synchronous writes this replaces.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger("auditor.proxy")

MAX_BACKLOG = 64 << 20


class RecordingThread:
    def __init__(self, max_backlog: int = MAX_BACKLOG) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditor-record")
        self._max_backlog = max_backlog
        self._backlog = 0
        self._room = threading.Condition()

    @property
    def backlog(self) -> int:
        """Bytes queued and not yet written."""
        return self._backlog

    def submit(self, fn: Callable[..., Any], *args: Any, nbytes: int = 0) -> Future[Any]:
        """Run ``fn(*args)`` on the thread after everything submitted before it."""
        if nbytes:
            with self._room:
                self._room.wait_for(lambda: self._backlog < self._max_backlog)
                self._backlog += nbytes
        fut = self._pool.submit(self._run, fn, args, nbytes)
        fut.add_done_callback(_log_error)
        return fut

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...], nbytes: int) -> Any:
        try:
            return fn(*args)
        finally:
            if nbytes:
                with self._room:
                    self._backlog -= nbytes
                    self._room.notify_all()

    def close(self) -> None:
        """Wait for everything queued, then end the thread."""
        self._pool.shutdown(wait=True)


def _log_error(fut: Future[Any]) -> None:
    exc = fut.exception()
    if exc is not None:
        log.error("recording write failed: %r", exc)
