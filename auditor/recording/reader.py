"""Reading recordings, including ones another process is still appending to.

A reader yields only records whose chain tag checks out. Past the last
checkpoint the sidecar index knows of, a record that is incomplete or does
not check out is the writer's unfinished (or crashed) flush: reading stops
there quietly and a later ``poll`` picks up where it left off. Before that
point the same thing is corruption and raises ``RecordingError``.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from auditor.recording.format import (
    ALL_STREAMS,
    HEADER,
    INDEX_ENTRY,
    INDEX_SUFFIX,
    MAGIC,
    MAX_DATA,
    MAX_META,
    META_LEN,
    TAG_SIZE,
    USER_STREAMS,
    Internal,
    RecordingError,
    Stream,
    first_tag,
    record_tag,
)
from auditor.recording.source import FileSource, RecordingLocation, RecordingSource, open_source


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    t: float  # seconds since the recording started
    stream: Stream
    data: bytes
    offset: int  # where the record starts in the file


@dataclass(frozen=True, slots=True)
class IndexEntry:
    offset: int  # where the record after a checkpoint starts
    t: float
    seq: int


@dataclass(frozen=True, slots=True)
class Summary:
    duration: float
    sealed: bool  # closed by its writer
    records: int  # all records, internal ones included
    final_hash: str  # "seq:tag" of the last good record
    end_offset: int  # where the good records end


class RecordingReader:
    """A recording read from a file or, sealed, from object storage: ``location``
    is a path or an ``s3://`` URL (``source.open_source`` is the one place that
    tells them apart)."""

    def __init__(self, location: RecordingLocation | Path | str | RecordingSource) -> None:
        if isinstance(location, (str, os.PathLike, RecordingLocation)):
            location = open_source(location)
        self.source: RecordingSource = location
        # Files keep their path (sidecars are written beside them); objects their URL.
        self.path = location.path if isinstance(location, FileSource) else Path(location.name)
        try:
            with self.source.open() as fh:
                head = fh.read(len(MAGIC) + META_LEN.size)
                if len(head) < len(MAGIC) + META_LEN.size:
                    raise self.error(len(head), "truncated header")
                if head[: len(MAGIC)] != MAGIC:
                    raise self.error(0, "not an auditor recording (bad magic)")
                (meta_len,) = META_LEN.unpack_from(head, len(MAGIC))
                if meta_len > MAX_META:
                    raise self.error(len(MAGIC), f"metadata length {meta_len} is implausible")
                meta_bytes = fh.read(meta_len)
        except FileNotFoundError:
            raise RecordingError(f"{self.source.name}: recording file not found") from None
        except IsADirectoryError:
            raise RecordingError(f"{self.source.name}: is a directory, not a recording") from None
        if len(meta_bytes) < meta_len:
            raise self.error(len(head) + len(meta_bytes), "truncated header")
        try:
            meta = json.loads(meta_bytes)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self.error(len(head), f"metadata is not valid JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise self.error(len(head), "metadata is not a JSON object")
        self.meta: dict[str, Any] = meta
        self.header_len = len(head) + meta_len
        self.first_tag = first_tag(head + meta_bytes)

    def error(self, offset: int, message: str) -> RecordingError:
        return RecordingError(f"{self.source.name}: offset {offset}: {message}")

    @property
    def start(self) -> float:
        """Epoch seconds at which the recording started."""
        return float(self.meta.get("start", 0.0))

    def index(self) -> list[IndexEntry]:
        """The sparse offset index, as far as it agrees with the file."""
        size = self.source.size()
        entries = [IndexEntry(self.header_len, 0.0, 0)]
        raw = self.source.sidecar(INDEX_SUFFIX)
        if raw is None:
            return entries
        for i in range(0, len(raw) - INDEX_ENTRY.size + 1, INDEX_ENTRY.size):
            offset, t, seq = INDEX_ENTRY.unpack_from(raw, i)
            last = entries[-1]
            # An index is only a hint: skip entries that cannot be right.
            if last.offset < offset <= size and t >= last.t and seq > last.seq:
                entries.append(IndexEntry(offset, t, seq))
        return entries

    def cursor(self, start: float = 0.0) -> Cursor:
        """A position from which ``poll`` yields records with ``t >= start``."""
        entries = self.index()
        times = [e.t for e in entries]
        # The last checkpoint strictly before `start`: records at `start` may precede
        # a checkpoint stamped with the same time.
        i = max(bisect.bisect_left(times, start) - 1, 0)
        return Cursor(self, entries[i], start, entries[-1].offset)

    def cursor_at(self, entry: IndexEntry, strict: int | None = None) -> Cursor:
        """A cursor at a known record boundary (a resumed extraction, a followed tail)."""
        if strict is None:
            strict = self.index()[-1].offset
        return Cursor(self, entry, 0.0, strict)

    def records(self, start: float = 0.0) -> Iterator[Record]:
        """Records with ``t >= start``, in order, as far as the file is complete."""
        return self.cursor(start).poll()

    def summary(self) -> Summary:
        entries = self.index()
        # The last flush starts at the next-to-last entry; a SEAL is in it if closed.
        cur = Cursor(self, entries[max(len(entries) - 2, 0)], float("inf"), entries[-1].offset)
        for _ in cur.poll():
            pass
        return Summary(cur.t, cur.sealed, cur.seq, f"{cur.seq - 1}:{cur.tag.hex()}", cur.offset)

    @property
    def duration(self) -> float:
        return self.summary().duration


class Cursor:
    """Where a reader is in a recording; ``poll`` again to follow a live one."""

    def __init__(
        self, reader: RecordingReader, entry: IndexEntry, start: float, strict: int
    ) -> None:
        self.reader = reader
        self.offset = entry.offset
        self.seq = entry.seq
        self.t = entry.t
        self.start = start
        self.sealed = False
        self._strict_until = strict
        self.tag = reader.first_tag if entry.seq == 0 else self._tag_before(entry.offset)

    def _tag_before(self, offset: int) -> bytes:
        with self.reader.source.open() as fh:
            fh.seek(offset - TAG_SIZE)
            return fh.read(TAG_SIZE)

    def poll(self) -> Iterator[Record]:
        """Yield the records completed since the last poll."""
        if self.sealed:
            return
        self._refresh_strict()
        with self.reader.source.open() as fh:
            fh.seek(self.offset)
            yield from self._read(fh)

    def _refresh_strict(self) -> None:
        # Only the last index entry matters: it is where the writer last finished a flush.
        last = self.reader.source.last_index_entry()
        if last is None:
            return  # no usable sidecar: nothing more is known to be complete
        offset = last[0]
        if offset <= self.reader.source.size():
            self._strict_until = max(self._strict_until, offset)

    def _read(self, fh: BinaryIO) -> Iterator[Record]:
        while True:
            offset = self.offset
            header = fh.read(HEADER.size)
            if len(header) < HEADER.size:
                return
            seq, t, stream, n = HEADER.unpack(header)
            if stream not in ALL_STREAMS or n > MAX_DATA or seq != self.seq:
                self._damaged(offset, f"record header is corrupt (expected record {self.seq})")
                return
            data = fh.read(n)
            tag = fh.read(TAG_SIZE)
            if len(tag) < TAG_SIZE:
                return
            if record_tag(self.tag, header, data) != tag:
                self._damaged(offset, f"record {seq} does not match its hash")
                return
            self.offset = offset + HEADER.size + n + TAG_SIZE
            self.seq, self.tag, self.t = seq + 1, tag, t
            if stream in USER_STREAMS:
                if t >= self.start:
                    yield Record(seq, t, Stream(stream), data, offset)
            elif stream == Internal.SEAL:
                self.sealed = True
                return

    def _damaged(self, offset: int, message: str) -> None:
        if offset < self._strict_until:
            raise self.reader.error(offset, f"{message}; run `auditor verify`")
