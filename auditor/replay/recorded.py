"""Recordings (``auditor.recording``) as the record sources replay takes.

The emulator and keyframes work on plain ``(t, kind, data)`` records so they
don't depend on the file format; this is the one place that maps a
recording's streams onto them. Output and stderr both reached the user's
terminal; a resize carries the pty size (the first one is the pty request).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from auditor.recording import RecordingReader, Stream, decode_resize
from auditor.replay.keyframes import (
    OUTPUT,
    RESIZE,
    KeyframeIndex,
    Record,
    RecordSource,
    load_or_update,
    sidecar_path,
)


def recording_source(reader: RecordingReader) -> RecordSource:
    def records_from(start: float) -> Iterator[Record]:
        for record in reader.records(start):
            if record.stream in (Stream.OUTPUT, Stream.STDERR):
                yield record.t, OUTPUT, record.data
            elif record.stream == Stream.RESIZE:
                yield record.t, RESIZE, decode_resize(record.data)

    return records_from


def recording_keyframes(path: Path, **kwargs: int) -> KeyframeIndex:
    """The recording's keyframes, from its sidecar, extended or rebuilt as
    needed. Slow on a long new recording: call it off the proxy's path."""
    return load_or_update(sidecar_path(path), recording_source(RecordingReader(path)), **kwargs)
