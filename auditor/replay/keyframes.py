"""Keyframes: seeking in a long recording without replaying it from the start.

A keyframe is a snapshot of the terminal after some record, taken every
``every_bytes`` of output (and every ``every_records`` records, so a session
of many tiny writes is covered too). Seeking to ``t`` restores the last
keyframe at or before ``t`` and re-emulates the records after it: one
snapshot load plus at most ``every_bytes`` of emulation, whatever the
recording's length.

Keyframes are built off the proxy's hot path: by whoever indexes a session
after it ends, and periodically in the background for long live ones
(``load_or_update`` resumes from the last keyframe, so each pass only
emulates what is new). They live in a sidecar file next to the recording;
it is only a cache, so a corrupt or unreadable one is reported and rebuilt.

Records are plain ``(t, kind, data)`` tuples: ``kind`` "output" with bytes,
"resize" with ``(cols, rows)``, anything else ignored. A source is a
function from a start time to the records at or after it, in time order,
so this module does not depend on how recordings are stored.
"""

from __future__ import annotations

import bisect
import logging
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError
from auditor.recording.format import KEYFRAMES_SUFFIX
from auditor.replay.emulator import Terminal
from auditor.replay.snapshot import (
    SnapshotError,
    SnapshotStale,
    restore_snapshot,
    take_snapshot,
)

log = logging.getLogger(__name__)

Record = tuple[float, str, Any]
RecordSource = Callable[[float], Iterable[Record]]

OUTPUT = "output"
RESIZE = "resize"

# 64 KiB of output is about 15 ms of emulation: the worst case of a seek,
# for snapshots of 1-2 KB each, about 2% of the recording.
DEFAULT_EVERY_BYTES = 64 * 1024
DEFAULT_EVERY_RECORDS = 4096

# Version 2: output of channels without a pty is emulated with the carriage
# returns its user's tty added (``auditor.recording.shown``); version 1 files
# show those sessions as a staircase and are rebuilt.
MAGIC_PREFIX = b"AUDITOR-KEYFRAMES\x00"
MAGIC = MAGIC_PREFIX + b"\x02"
_HEADER = struct.Struct("<HH")  # initial cols, rows
_FRAME = struct.Struct("<dQIQII")  # t, ordinal, same_t, output_bytes, length, crc32


class KeyframeError(AuditorError):
    """A keyframe file that can't be used: not one, truncated or corrupt."""


class KeyframeStale(KeyframeError):
    """A keyframe file of another format version: rebuilt without a fuss."""


@dataclass(frozen=True)
class Keyframe:
    t: float  # time of the last record applied (0.0 before any)
    ordinal: int  # records applied
    same_t: int  # of which have time == t: skipped when re-reading from t
    output_bytes: int  # output bytes applied
    snapshot: bytes


def apply(terminal: Terminal, kind: str, data: Any) -> None:
    """One record's effect on the terminal."""
    if kind == OUTPUT:
        terminal.feed(data)
    elif kind == RESIZE:
        cols, rows = data
        terminal.resize(cols, rows)


def records_after(keyframe: Keyframe, source: RecordSource) -> Iterator[Record]:
    """The records a keyframe has not applied yet."""
    skip = keyframe.same_t if keyframe.ordinal else 0
    for record in source(keyframe.t):
        if skip and record[0] == keyframe.t:
            skip -= 1
            continue
        yield record


class KeyframeIndex:
    """A recording's keyframes, in order; the first is the blank terminal."""

    def __init__(self, cols: int, rows: int, keyframes: list[Keyframe]) -> None:
        if not keyframes:
            raise ValueError("a keyframe index starts with the initial terminal")
        self.cols = cols
        self.rows = rows
        self.keyframes = keyframes
        self._times = [k.t for k in keyframes]

    @classmethod
    def build(
        cls,
        records: Iterable[Record],
        cols: int = 80,
        rows: int = 24,
        *,
        every_bytes: int = DEFAULT_EVERY_BYTES,
        every_records: int = DEFAULT_EVERY_RECORDS,
    ) -> KeyframeIndex:
        builder = KeyframeBuilder(cols, rows, every_bytes=every_bytes, every_records=every_records)
        for t, kind, data in records:
            builder.add(t, kind, data)
        return builder.index

    def at(self, t: float) -> Keyframe:
        """The last keyframe at or before ``t`` (the initial one if none)."""
        return self.keyframes[max(0, bisect.bisect_right(self._times, t) - 1)]

    def seek(self, t: float, source: RecordSource) -> Terminal:
        """The terminal as it was once every record up to time ``t`` was shown."""
        keyframe = self.at(t)
        terminal = self.terminal_at(keyframe)
        for rt, kind, data in records_after(keyframe, source):
            if rt > t:
                break
            apply(terminal, kind, data)
        return terminal

    def terminal_at(self, keyframe: Keyframe) -> Terminal:
        try:
            return restore_snapshot(keyframe.snapshot)
        except SnapshotStale as exc:
            raise KeyframeStale(f"keyframe at {keyframe.t:.3f}s: {exc}") from exc
        except SnapshotError as exc:
            raise KeyframeError(f"keyframe at {keyframe.t:.3f}s: {exc}") from exc

    def append(self, keyframe: Keyframe) -> None:
        self.keyframes.append(keyframe)
        self._times.append(keyframe.t)

    @property
    def size(self) -> int:
        """Bytes the index takes on disk."""
        return (
            len(MAGIC) + _HEADER.size + sum(_FRAME.size + len(k.snapshot) for k in self.keyframes)
        )

    def save(self, path: Path) -> None:
        """Write atomically, private to the owner like the recording itself."""
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + _HEADER.pack(self.cols, self.rows))
                for k in self.keyframes:
                    f.write(
                        _FRAME.pack(
                            k.t,
                            k.ordinal,
                            k.same_t,
                            k.output_bytes,
                            len(k.snapshot),
                            zlib.crc32(k.snapshot),
                        )
                    )
                    f.write(k.snapshot)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: Path) -> KeyframeIndex:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyframeError(f"can't read keyframes {path}: {exc.strerror}") from exc
        return cls.from_bytes(data, str(path))

    @classmethod
    def from_bytes(cls, data: bytes, path: str) -> KeyframeIndex:
        """A sidecar's content (a file's, or an object's beside its recording)."""
        if data.startswith(MAGIC_PREFIX) and not data.startswith(MAGIC):
            raise KeyframeStale(f"{path} is from another version of auditor")
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _HEADER.size:
            raise KeyframeError(f"{path} is not a keyframe file")
        offset = len(MAGIC)
        cols, rows = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        keyframes: list[Keyframe] = []
        while offset < len(data):
            if offset + _FRAME.size > len(data):
                raise KeyframeError(f"{path} is truncated (keyframe {len(keyframes)})")
            t, ordinal, same_t, output_bytes, length, crc = _FRAME.unpack_from(data, offset)
            offset += _FRAME.size
            snapshot = data[offset : offset + length]
            offset += length
            if len(snapshot) != length or zlib.crc32(snapshot) != crc:
                raise KeyframeError(f"{path} is corrupt (keyframe {len(keyframes)})")
            keyframes.append(Keyframe(t, ordinal, same_t, output_bytes, snapshot))
        if not keyframes or keyframes[0].ordinal != 0:
            raise KeyframeError(f"{path} has no initial keyframe")
        return cls(cols, rows, keyframes)


class KeyframeBuilder:
    """Feeds records through a terminal and keeps keyframes as it goes."""

    def __init__(
        self,
        cols: int = 80,
        rows: int = 24,
        *,
        every_bytes: int = DEFAULT_EVERY_BYTES,
        every_records: int = DEFAULT_EVERY_RECORDS,
    ) -> None:
        self.every_bytes = every_bytes
        self.every_records = every_records
        self.terminal = Terminal(cols, rows, scrollback=0)
        self.t = 0.0
        self.ordinal = 0
        self.same_t = 0
        self.output_bytes = 0
        self.index = KeyframeIndex(cols, rows, [self._keyframe()])
        self._since_bytes = 0
        self._since_records = 0

    @classmethod
    def resume(cls, index: KeyframeIndex, **kwargs: int) -> KeyframeBuilder:
        """A builder continuing after ``index``'s last keyframe; feed it
        ``records_after(index.keyframes[-1], source)``."""
        builder = cls(index.cols, index.rows, **kwargs)
        last = index.keyframes[-1]
        builder.terminal = index.terminal_at(last)
        builder.terminal.scrollback.clear()
        builder.t, builder.ordinal, builder.same_t = last.t, last.ordinal, last.same_t
        builder.output_bytes = last.output_bytes
        builder.index = index
        return builder

    def _keyframe(self) -> Keyframe:
        return Keyframe(
            self.t, self.ordinal, self.same_t, self.output_bytes, take_snapshot(self.terminal)
        )

    def add(self, t: float, kind: str, data: Any) -> None:
        apply(self.terminal, kind, data)
        self.same_t = self.same_t + 1 if t == self.t and self.ordinal else 1
        self.t = t
        self.ordinal += 1
        self._since_records += 1
        if kind == OUTPUT:
            self.output_bytes += len(data)
            self._since_bytes += len(data)
        due = self._since_bytes >= self.every_bytes or self._since_records >= self.every_records
        # Mid-sequence state can't be saved: wait for the next record.
        if due and self.terminal.stream.at_rest:
            self.index.append(self._keyframe())
            self._since_bytes = self._since_records = 0


def sidecar_path(recording: Path) -> Path:
    return recording.with_name(recording.name + KEYFRAMES_SUFFIX)


def load_or_update(
    path: Path,
    source: RecordSource,
    cols: int = 80,
    rows: int = 24,
    **kwargs: int,
) -> KeyframeIndex:
    """The keyframes in ``path``, extended over records added since, or
    rebuilt from scratch when the file is missing or unusable. Saves when
    anything changed. Run it off the proxy's path (a thread, a later pass)."""
    builder: KeyframeBuilder | None = None
    if path.exists():
        try:
            index = KeyframeIndex.load(path)
            builder = KeyframeBuilder.resume(index, **kwargs)
        except KeyframeStale as exc:
            log.info("%s; rebuilding it", exc)
        except KeyframeError as exc:
            log.warning("%s; rebuilding it", exc)
    if builder is None:
        builder = KeyframeBuilder(cols, rows, **kwargs)
        records: Iterable[Record] = source(0.0)
        count = 0
    else:
        records = records_after(builder.index.keyframes[-1], source)
        count = len(builder.index.keyframes)
    for t, kind, data in records:
        builder.add(t, kind, data)
    if len(builder.index.keyframes) > count:
        builder.index.save(path)
    return builder.index
