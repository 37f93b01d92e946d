"""Seeking in a real recording file through its keyframes."""

from __future__ import annotations

from pathlib import Path

from auditor.recording import RecordingReader, RecordingWriter, Stream, encode_resize
from auditor.replay.emulator import Terminal
from auditor.replay.keyframes import sidecar_path
from auditor.replay.recorded import recording_keyframes, recording_source


def test_seek_in_a_recording_file(tmp_path: Path) -> None:
    path = tmp_path / "s.rec"
    with RecordingWriter.create(path, {"user": "joe"}) as writer:
        writer.append(Stream.RESIZE, encode_resize(30, 5), t=0.0)
        for i in range(300):
            writer.append(Stream.OUTPUT, b"line %d \x1b[32mok\x1b[0m\r\n" % i, t=i / 10)
            if i == 150:
                writer.append(Stream.INPUT, b"typed", t=i / 10)
                writer.append(Stream.RESIZE, encode_resize(40, 8), t=i / 10)
        writer.append(Stream.STDERR, b"warning: done", t=31.0)

    index = recording_keyframes(path, every_bytes=1000)
    assert sidecar_path(path).exists()
    assert len(index.keyframes) > 5
    source = recording_source(RecordingReader(path))

    at_20 = index.seek(20.0, source)
    assert (at_20.cols, at_20.rows) == (40, 8)
    assert at_20.lines[-2].startswith("line 200 ok")

    reference = Terminal()
    for t, kind, data in source(0.0):
        if t <= 12.0:
            if kind == "output":
                reference.feed(data)
            else:
                reference.resize(*data)
    assert index.seek(12.0, source).lines == reference.lines
    assert index.seek(99.0, source).text().endswith("warning: done")
