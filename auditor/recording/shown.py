"""Output as the user's terminal showed it: line feeds of channels without a pty.

A program on a pty writes ``\\n`` and the pty's line discipline (``onlcr``)
sends ``\\r\\n``, so what the proxy records is what the terminal got. A
channel without a pty (``ssh node 'cmd'``, scripts, git, ansible) has no
line discipline on the node: the bytes are the program's bare ``\\n``, and
the *user's* tty added the ``\\r`` when the ssh client wrote them out. A
replay has to do the same or every line starts where the last one ended.

Whether a channel had a pty is read off the recording itself, so recordings
made before this existed replay correctly too: a pty request is recorded as
a resize before the channel starts (before its ``shell``/``exec`` marker and
before any output); a channel that starts or prints without one had none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from auditor.recording.format import Stream
from auditor.recording.reader import Record, RecordingReader

SHOWN_STREAMS = frozenset({Stream.OUTPUT, Stream.STDERR})
# The markers the proxy writes when the client starts the channel.
_START_MARKERS = (b"shell", b"exec ", b"subsystem ")


def onlcr(data: bytes) -> bytes:
    """What a tty with ``onlcr`` set writes for ``data``."""
    return data.replace(b"\n", b"\r\n")


class ShownOutput:
    """Rewrites a channel's records in order as its user's terminal got them.

    ``pty`` is what is already known (``had_pty``) when reading starts
    part-way through; ``None`` decides from the records as they come.
    """

    def __init__(self, pty: bool | None = None) -> None:
        self.pty = pty

    def __call__(self, record: Record) -> Record:
        stream = record.stream
        if stream in SHOWN_STREAMS:
            if self.pty is None:
                self.pty = False
            if self.pty:
                return record
            return Record(record.seq, record.t, stream, onlcr(record.data), record.offset)
        if self.pty is None:
            if stream == Stream.RESIZE:
                self.pty = True
            elif stream == Stream.MARKER and record.data.startswith(_START_MARKERS):
                self.pty = False
        return record

    def records(self, records: Iterable[Record]) -> Iterator[Record]:
        return map(self, records)


def had_pty(reader: RecordingReader) -> bool | None:
    """Whether the recorded channel had a pty; ``None`` while a live one has
    not started yet. Reads only up to the channel's start."""
    shown = ShownOutput()
    for record in reader.records():
        shown(record)
        if shown.pty is not None:
            break
    return shown.pty


def shown_records(reader: RecordingReader, start: float = 0.0) -> Iterator[Record]:
    """The recording's records from ``start`` on, output as the user saw it."""
    pty = had_pty(reader) if start > 0 else None
    return ShownOutput(pty).records(reader.records(start))
