"""Following a recording the proxy is still writing, from any process.

The reader already tolerates a growing file (an unfinished flush at the end
is left for the next poll). Following is polling: a ``stat`` every
``interval`` and a read only when the file grew, until the writer seals the
recording or the index says the session is no longer live (a proxy that
died never seals). Nothing here talks to the proxy; a live session of
another machine is a local mirror file that ``poll`` refreshes first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from auditor.recording import Cursor, Record, RecordingReader

POLL_INTERVAL = 0.05
LIVE_CHECK_INTERVAL = 1.0


class Follower:
    """New records of one recording as the file grows."""

    def __init__(self, reader: RecordingReader, cursor: Cursor) -> None:
        self.reader = reader
        self.cursor = cursor
        self._size = -1

    @classmethod
    def from_time(cls, reader: RecordingReader, start: float = 0.0) -> Follower:
        return cls(reader, reader.cursor(start))

    @classmethod
    def from_end(cls, reader: RecordingReader) -> Follower:
        """Only what is recorded from now on (the writer's last second,
        still unflushed, included only from now on too)."""
        now = time.time() - reader.start
        cursor = reader.cursor(float("inf"))
        for _ in cursor.poll():  # skips the records of the last flush
            pass
        cursor.start = now
        follower = cls(reader, cursor)
        follower._size = os.path.getsize(reader.path)
        return follower

    @property
    def sealed(self) -> bool:
        """The writer closed the recording: nothing more will come."""
        return self.cursor.sealed

    def poll(self, force: bool = False) -> list[Record]:
        """Records completed since the last poll; cheap when nothing changed
        (``force``: read even so, for the last look at an ended session)."""
        refresh = getattr(self.reader.source, "refresh", None)
        if refresh is not None:  # a mirror of another machine's spool (replay.remote)
            refresh(force)
        try:
            size = os.path.getsize(self.reader.path)
        except FileNotFoundError:
            return []
        if size == self._size and not force:
            return []
        self._size = size
        return list(self.cursor.poll())


def follow(
    reader: RecordingReader,
    start: float = 0.0,
    *,
    still_live: Callable[[], bool],
    interval: float = POLL_INTERVAL,
) -> Iterator[Record | None]:
    """The records from ``start`` on, then those added while the session
    lasts. ``None`` means "nothing new yet": a consumer with other work (a
    player reading keys) gets control back between polls."""
    follower = Follower.from_time(reader, start)
    checked = time.monotonic()
    while True:
        records = follower.poll()
        yield from records
        if follower.sealed:
            return
        if records:
            continue
        now = time.monotonic()
        if now - checked >= LIVE_CHECK_INTERVAL:
            checked = now
            if not still_live():
                yield from follower.poll(force=True)  # the last flush may have landed
                return
        yield None
        time.sleep(interval)


def records_only(items: Iterator[Record | None]) -> Iterator[Record]:
    """``follow`` for consumers that just wait (text, asciicast)."""
    return (r for r in items if r is not None)
