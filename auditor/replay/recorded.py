"""Recordings (``auditor.recording``) as the records replay takes: the one adapter.

The emulator and keyframes work on plain ``(t, kind, data)`` records so they
don't depend on the file format; this is the one place that maps a
recording's streams onto them. Output and stderr both reached the user's
terminal, as the user's tty showed them (``auditor.recording.shown``: line
feeds of a channel without a pty get their carriage return); a resize
carries the pty size (the first one is the pty request). Input withheld
from the recording (a password: ``auditor.proxy.redact``) is drawn where
the cursor stood, in reverse video, as ``[input withheld]``: the user's
screen showed nothing there, but whoever replays must see that something
was typed. Everything that replays a recording (keyframes, the players,
transcripts, tail) reads it through here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from auditor.recording import Record as RecordingRecord
from auditor.recording import RecordingReader, Stream, decode_resize
from auditor.recording.format import KEYFRAMES_SUFFIX, WITHHELD_TEXT
from auditor.recording.shown import ShownOutput, had_pty
from auditor.recording.source import FileSource, RecordingSource
from auditor.replay.keyframes import (
    OUTPUT,
    RESIZE,
    KeyframeError,
    KeyframeIndex,
    Record,
    RecordSource,
    load_or_update,
    sidecar_path,
)

log = logging.getLogger("auditor.replay")
WITHHELD_SHOWN = b"\x1b[7m" + WITHHELD_TEXT.encode() + b"\x1b[27m"


def replay_record(record: RecordingRecord) -> Record | None:
    """A recording's record as replay takes it (``None``: not shown). The
    record must already be as shown (``ShownOutput``)."""
    if record.stream in (Stream.OUTPUT, Stream.STDERR):
        return record.t, OUTPUT, record.data
    if record.stream == Stream.RESIZE:
        return record.t, RESIZE, decode_resize(record.data)
    if record.stream == Stream.WITHHELD:
        return record.t, OUTPUT, WITHHELD_SHOWN
    return None


def replay_records(records: Iterable[RecordingRecord], pty: bool | None = None) -> Iterator[Record]:
    """A channel's records, in order from its start (or from part-way with
    ``pty`` known), as replay records."""
    shown = ShownOutput(pty)
    for record in records:
        item = replay_record(shown(record))
        if item is not None:
            yield item


def recording_source(reader: RecordingReader) -> RecordSource:
    pty: list[bool | None] = []  # looked up once, on the first read from part-way

    def records_from(start: float) -> Iterator[Record]:
        if start > 0 and not pty:
            pty.append(had_pty(reader))
        return replay_records(reader.records(start), pty[0] if pty and start > 0 else None)

    return records_from


def recording_keyframes(path: Path | str | RecordingSource, **kwargs: int) -> KeyframeIndex:
    """The recording's keyframes, from its sidecar, extended or rebuilt as
    needed. Slow on a long new recording: call it off the proxy's path."""
    reader = RecordingReader(path)
    if isinstance(reader.source, FileSource):
        return load_or_update(sidecar_path(reader.path), recording_source(reader), **kwargs)
    # A sealed object: its keyframes travel beside it, else they are built in memory.
    raw = reader.source.sidecar(KEYFRAMES_SUFFIX)
    if raw is not None:
        try:
            return KeyframeIndex.from_bytes(raw, reader.source.name + KEYFRAMES_SUFFIX)
        except KeyframeError as exc:
            log.info("%s; building them in memory", exc)
    return KeyframeIndex.build(recording_source(reader)(0.0), **kwargs)


class RecordFeed:
    """Replay records from a point of a recording on, polled again as a live
    one grows: ``peek`` is None when there is nothing more *for now*, and
    ``ended`` says whether more can still come."""

    LIVE_CHECK_INTERVAL = 1.0

    def __init__(
        self,
        reader: RecordingReader,
        start: float = 0.0,
        skip_same_t: int = 0,
        *,
        pty: bool | None = None,
        still_live: Callable[[], bool] | None = None,
        live: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.cursor = reader.cursor(start)
        self.shown = ShownOutput(pty if start > 0 else None)
        self._start = start
        self._skip = skip_same_t
        self._it: Iterator[RecordingRecord] | None = None
        self._peek: Record | None = None
        self._size = -1
        self._still_live = still_live
        self._clock = clock
        self._checked = clock()
        self.ended = not live
        self.last_t = start

    def _poll(self) -> Iterator[RecordingRecord] | None:
        """The records written since the last look; None if the file did not grow."""
        if self.ended:
            return self.cursor.poll() if self._size < 0 else None
        refresh = getattr(self.reader.source, "refresh", None)
        if refresh is not None:  # a mirror of another machine's spool (replay.remote)
            refresh()
        try:
            size = os.path.getsize(self.reader.path)
        except FileNotFoundError:
            return None
        if size == self._size:
            if self._still_live is not None and not self.cursor.sealed:
                now = self._clock()
                if now - self._checked >= self.LIVE_CHECK_INTERVAL:
                    self._checked = now
                    if not self._still_live():
                        self.ended = True  # one last read: the final flush may have landed
                        if refresh is not None:
                            refresh(True)
                        return self.cursor.poll()
            return None
        self._size = size
        return self.cursor.poll()

    def peek(self) -> Record | None:
        while self._peek is None:
            if self._it is None:
                self._it = self._poll()
                if self._it is None:
                    return None
            record = next(self._it, None)
            if record is None:
                self._it = None
                if self.cursor.sealed:
                    self.ended = True
                if self.ended:
                    self._size = 0  # read to the end: nothing more will come
                return None
            item = replay_record(self.shown(record))
            if item is None:
                continue
            if self._skip and record.t == self._start:
                self._skip -= 1
                continue
            self._peek = item
        return self._peek

    def take(self) -> Record:
        item = self.peek()
        assert item is not None
        self._peek = None
        self.last_t = item[0]
        return item
