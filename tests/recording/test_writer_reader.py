"""Recordings come back byte for byte, at the right times, from any starting point."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.recording import (
    RecordingReader,
    RecordingWriter,
    Stream,
    decode_exit,
    decode_resize,
    encode_exit,
    encode_resize,
)
from auditor.recording.format import index_path
from tests.recording.helpers import SAMPLE, payloads, write_sample

events = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=1e6, allow_nan=False),
        st.sampled_from(list(Stream)),
        st.binary(max_size=300),
        st.booleans(),  # flush after this record
    ),
    max_size=40,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=events, close=st.booleans())
def test_round_trip_arbitrary_bytes_and_timings(tmp_path: Path, events: list, close: bool) -> None:
    path = tmp_path / f"r{os.urandom(6).hex()}.rec"
    w = RecordingWriter.create(path, {"k": "v"})
    expected = []
    last = 0.0
    for t, stream, data, flush in events:
        w.append(stream, data, t)
        last = max(last, t)  # time never goes backwards in a recording
        expected.append((last, stream, data))
        if flush:
            w.flush()
    if close:
        w.close()
    else:
        w.flush()
    reader = RecordingReader(path)
    assert reader.meta["k"] == "v"
    assert payloads(path) == expected
    assert reader.duration == (expected[-1][0] if expected else 0.0)
    assert reader.summary().sealed is close
    # Starting at any record's time gives exactly the records from that time on.
    for t0 in {e[0] for e in expected}:
        assert [(r.t, r.stream, r.data) for r in reader.records(t0)] == [
            e for e in expected if e[0] >= t0
        ]


def test_unflushed_records_are_not_visible_until_flush(tmp_path: Path) -> None:
    path = tmp_path / "a.rec"
    w = RecordingWriter.create(path, {})
    w.append(Stream.OUTPUT, b"one", 1.0)
    assert payloads(path) == []
    w.flush()
    assert payloads(path) == [(1.0, Stream.OUTPUT, b"one")]
    w.close()


def test_flush_if_due_after_a_second_or_a_large_buffer(tmp_path: Path) -> None:
    w = RecordingWriter.create(tmp_path / "a.rec", {})
    w.append(Stream.OUTPUT, b"x")
    size = w.bytes_written
    w.flush_if_due()
    assert w.bytes_written == size  # neither old nor large yet
    w.append(Stream.OUTPUT, b"y" * (2 << 20))
    w.flush_if_due()
    assert w.bytes_written > size + (2 << 20)
    w._last_flush -= 1.5  # a second and a half ago
    w.append(Stream.OUTPUT, b"z")
    before = w.bytes_written
    w.flush_if_due()
    assert w.bytes_written > before
    w.close()


def test_seek_uses_the_sparse_index_not_a_full_scan(tmp_path: Path) -> None:
    path = tmp_path / "long.rec"
    with RecordingWriter.create(path, {}) as w:
        for i in range(2000):
            w.append(Stream.OUTPUT, f"line {i}\n".encode() * 50, i * 0.5)
            w.flush()
    reader = RecordingReader(path)
    cursor = reader.cursor(900.0)
    # The cursor starts at the checkpoint just before t=900, far into the file.
    assert cursor.offset > path.stat().st_size * 0.85
    first = next(reader.records(900.0))
    assert first.t == 900.0 and first.data.startswith(b"line 1800\n")


def test_damaged_sidecar_index_is_only_a_hint(tmp_path: Path) -> None:
    path = write_sample(tmp_path / "a.rec")
    index_path(path).write_bytes(os.urandom(97))
    assert payloads(path) == [(t, s, d) for t, s, d in SAMPLE]
    index_path(path).unlink()
    assert payloads(path) == [(t, s, d) for t, s, d in SAMPLE]
    assert [r.t for r in RecordingReader(path).records(0.35)] == [0.4, 0.5, 0.6]


def test_files_are_private(tmp_path: Path) -> None:
    path = write_sample(tmp_path / "deep" / "a.rec")
    for p in (path, index_path(path)):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_large_appends_are_split_and_come_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.rec"
    blob = os.urandom((1 << 24) + 10)
    with RecordingWriter.create(path, {}) as w:
        w.append(Stream.OUTPUT, blob, 1.0)
    assert b"".join(r.data for r in RecordingReader(path).records()) == blob


def test_resize_and_exit_encodings() -> None:
    assert decode_resize(encode_resize(132, 43)) == (132, 43)
    assert decode_exit(encode_exit(3)) == (3, None)
    assert decode_exit(encode_exit(signal="TERM")) == (None, "TERM")
