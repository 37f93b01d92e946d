"""Appending a session to its recording: the proxy's hot path.

``append`` only packs a header, hashes and extends an in-memory buffer; the
file is written by ``flush``, which the proxy calls from a timer, so the
event loop never waits on the disk per chunk of traffic.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditor.datadir import ensure_private_dir
from auditor.recording.format import (
    CHECKPOINT_DATA,
    HEADER,
    INDEX_ENTRY,
    MAGIC,
    MAX_DATA,
    META_LEN,
    SEAL_DATA,
    Internal,
    Stream,
    first_tag,
    index_path,
    record_tag,
)

FLUSH_INTERVAL = 1.0
FLUSH_BYTES = 1 << 20
# A flush is due once this much of the interval has passed: the proxy's timer ticks
# at half the interval, so the flush comes every second tick, never every third
# (a tick a hair early would otherwise stretch "once a second" to 1.5 s).
DUE_FRACTION = 0.75


class RecordingWriter:
    def __init__(self, path: Path, fd: int, index_fd: int, header_len: int, tag: bytes) -> None:
        self.path = path
        self._fd = fd
        self._index_fd = index_fd
        self._tag = tag
        self._seq = 0
        self._buf = bytearray()
        self._pending = 0  # records since the last checkpoint
        self._last_t = 0.0
        self._mono0 = time.monotonic()
        self._last_flush = self._mono0
        # Shorter with followers on other machines (proxy.live): they see a flush.
        self.flush_interval = FLUSH_INTERVAL
        self.bytes_written = header_len  # bytes in the file so far
        self.payload_bytes = 0  # data bytes appended (all streams)
        self.closed = False
        # Told after each write to the files (the syncer's mark: sync this one soon).
        self.on_write: Callable[[], None] | None = None
        self.start = 0.0
        self.sealed_at: float | None = None

    @classmethod
    def create(cls, path: Path, meta: dict[str, Any]) -> RecordingWriter:
        """Start a recording at ``path`` (0600, parents 0700); fails if it exists.

        ``meta`` is stored as JSON in the header; ``start`` (epoch seconds)
        defaults to now and anchors every record's relative time.
        """
        meta = {"version": 1, **meta}
        meta.setdefault("start", time.time())
        meta_bytes = json.dumps(meta, default=str, sort_keys=True).encode()
        header = MAGIC + META_LEN.pack(len(meta_bytes)) + meta_bytes
        ensure_private_dir(path.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
        fd = os.open(path, flags, 0o600)
        try:
            index_fd = os.open(index_path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except BaseException:
            os.close(fd)
            raise
        writer = cls(path, fd, index_fd, len(header), first_tag(header))
        writer.start = float(meta["start"])  # what a signed anchor states (recording.anchor)
        _write_all(fd, header)
        _write_all(index_fd, INDEX_ENTRY.pack(len(header), 0.0, 0))
        return writer

    def clock(self) -> float:
        """Seconds since the recording started: the time ``append`` stamps by default."""
        return time.monotonic() - self._mono0

    # The hot path.
    def append(self, stream: Stream, data: bytes, t: float | None = None) -> None:
        """Buffer one record; ``t`` (seconds since start) defaults to now.

        Time never goes backwards in a recording (readers seek by it), so an
        earlier ``t`` is recorded as the previous record's time.
        """
        if self.closed:
            raise ValueError(f"{self.path}: recording is closed")
        if t is None:
            t = time.monotonic() - self._mono0
        elif math.isnan(t):
            raise ValueError("record time is NaN")
        if t < self._last_t:
            t = self._last_t
        self._last_t = t
        if len(data) > MAX_DATA:
            view = memoryview(data)
            for i in range(0, len(data), MAX_DATA):
                self._append(stream, bytes(view[i : i + MAX_DATA]), t)
        else:
            self._append(stream, data, t)
        self.payload_bytes += len(data)

    def _append(self, stream: int, data: bytes, t: float) -> None:
        header = HEADER.pack(self._seq, t, stream, len(data))
        tag = record_tag(self._tag, header, data)
        buf = self._buf
        buf += header
        buf += data
        buf += tag
        self._tag = tag
        self._seq += 1
        self._pending += 1

    # Off the hot path.
    def flush_if_due(self) -> None:
        """Flush when a second has passed since the last flush or the buffer is large."""
        if self._buf and (
            len(self._buf) >= FLUSH_BYTES
            or time.monotonic() - self._last_flush >= self.flush_interval * DUE_FRACTION
        ):
            self.flush()

    def flush(self) -> None:
        """Write buffered records out, sealed by a checkpoint."""
        if self.closed or not self._pending:
            return
        self._append(
            Internal.CHECKPOINT, CHECKPOINT_DATA.pack(time.time(), self.payload_bytes), self._last_t
        )
        self._write_out()

    def close(self) -> None:
        """Flush and add the SEAL record: anything after it was not written by us."""
        if self.closed:
            return
        self.sealed_at = time.time()  # the SEAL record's clock: a signed anchor's end
        self._append(Internal.SEAL, SEAL_DATA.pack(self.sealed_at), self._last_t)
        try:
            self._write_out()
        finally:
            self.closed = True
            os.close(self._fd)
            os.close(self._index_fd)

    def dup_descriptors(self) -> tuple[int, int]:
        """Copies of the recording's and its sidecar's descriptors, for a syncer that
        may still sync them after ``close`` (a closed number can name another file)."""
        fd = os.dup(self._fd)
        try:
            return fd, os.dup(self._index_fd)
        except BaseException:
            os.close(fd)
            raise

    @property
    def final_hash(self) -> str:
        """``seq:tag`` of the last record: the index keeps it as the chain's anchor."""
        return f"{self._seq - 1}:{self._tag.hex()}"

    @property
    def duration(self) -> float:
        return self._last_t

    def _write_out(self) -> None:
        self._last_flush = time.monotonic()
        data, self._buf = self._buf, bytearray()
        self._pending = 0
        _write_all(self._fd, data)
        self.bytes_written += len(data)
        # The index entry after the data: a reader never follows it past the file's end.
        _write_all(self._index_fd, INDEX_ENTRY.pack(self.bytes_written, self._last_t, self._seq))
        if self.on_write is not None:
            self.on_write()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
