"""Small recordings for tests, and the byte layout of their records."""

from __future__ import annotations

from pathlib import Path

from auditor.recording import RecordingReader, RecordingWriter, Stream
from auditor.recording.format import HEADER, TAG_SIZE

SAMPLE = [
    (0.0, Stream.RESIZE, b"\x00\x50\x00\x18"),
    (0.1, Stream.MARKER, b"uname -a"),
    (0.2, Stream.OUTPUT, b"Linux node 6.1\r\n"),
    (0.3, Stream.INPUT, b"ls\r"),
    (0.4, Stream.OUTPUT, b"\x1b[1mbold\x1b[0m \xff\xfe raw\r\n"),
    (0.5, Stream.STDERR, b"warning\n"),
    (0.6, Stream.EXIT, b"0"),
]


def write_sample(path: Path, flush_every: int = 2) -> Path:
    with RecordingWriter.create(path, {"session_id": "test", "user": "joe"}) as w:
        for i, (t, stream, data) in enumerate(SAMPLE):
            w.append(stream, data, t)
            if (i + 1) % flush_every == 0:
                w.flush()
    return path


def record_spans(path: Path) -> list[tuple[int, int, int]]:
    """``(seq, start, end)`` byte spans of every record, internal ones included."""
    reader = RecordingReader(path)
    raw = path.read_bytes()
    spans = []
    offset = reader.header_len
    while offset + HEADER.size <= len(raw):
        seq, _t, _stream, n = HEADER.unpack_from(raw, offset)
        end = offset + HEADER.size + n + TAG_SIZE
        spans.append((seq, offset, end))
        offset = end
    return spans


def payloads(path: Path) -> list[tuple[float, Stream, bytes]]:
    return [(r.t, r.stream, r.data) for r in RecordingReader(path).records()]
