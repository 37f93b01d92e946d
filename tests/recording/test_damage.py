"""Crashes cost at most the unflushed tail; tampering is caught and located."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditor.recording import RecordingError, RecordingReader
from auditor.recording.format import index_path
from auditor.recording.verification import verify_recording
from tests.recording.helpers import SAMPLE, payloads, record_spans, write_sample


def test_truncation_at_every_byte_offset(tmp_path: Path) -> None:
    original = write_sample(tmp_path / "orig.rec")
    raw = original.read_bytes()
    header_len = RecordingReader(original).header_len
    anchor = verify_recording(original).final_hash
    expected = [(t, s, d) for t, s, d in SAMPLE]
    cut = tmp_path / "cut.rec"
    shutil.copy(index_path(original), index_path(cut))
    for size in range(len(raw) + 1):
        cut.write_bytes(raw[:size])
        if size < header_len:
            with pytest.raises(RecordingError, match=r"cut\.rec: offset \d+"):
                RecordingReader(cut)
            continue
        got = payloads(cut)
        assert got == expected[: len(got)], size  # always a prefix, never garbage
        verdict = verify_recording(cut)
        assert verdict.ok, (size, verdict.problems)  # a crash is not tampering...
        if size < len(raw):
            assert not verdict.sealed
            # ...but an ended session cut short does not match the index's anchor.
            assert not verify_recording(cut, anchor).ok
    assert payloads(cut) == expected


def test_crash_loses_only_what_was_not_flushed(tmp_path: Path) -> None:
    from auditor.recording import RecordingWriter, Stream

    path = tmp_path / "crash.rec"
    w = RecordingWriter.create(path, {})
    w.append(Stream.OUTPUT, b"flushed", 1.0)
    w.flush()
    w.append(Stream.OUTPUT, b"lost", 1.5)
    # A torn write: half of the next flush reached the disk, then the process died.
    pending = bytes(w._buf)
    with open(path, "ab") as fh:
        fh.write(pending[: len(pending) // 2])
    assert payloads(path) == [(1.0, Stream.OUTPUT, b"flushed")]
    verdict = verify_recording(path)
    assert verdict.ok and not verdict.sealed
    assert any("incomplete final write" in n for n in verdict.notes)


def test_every_flipped_byte_is_detected(tmp_path: Path) -> None:
    original = write_sample(tmp_path / "orig.rec")
    raw = original.read_bytes()
    bad = tmp_path / "bad.rec"
    shutil.copy(index_path(original), index_path(bad))
    anchor = verify_recording(original).final_hash
    for i in range(len(raw)):
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        bad.write_bytes(flipped)
        try:
            verdict = verify_recording(bad, anchor)
        except RecordingError:
            continue  # the header itself no longer parses: reported as unreadable
        assert not verdict.ok, f"flip at offset {i} went unnoticed"


def test_flipped_data_byte_names_the_record_and_offset(tmp_path: Path) -> None:
    path = write_sample(tmp_path / "a.rec")
    seq, start, end = record_spans(path)[2]
    raw = bytearray(path.read_bytes())
    raw[end - 20] ^= 0xFF
    path.write_bytes(raw)
    verdict = verify_recording(path)
    assert [(p.kind, p.record, p.offset) for p in verdict.problems] == [("changed", seq, start)]
    assert verdict.describe().startswith(f"TAMPERED: offset {start}: record {seq} was changed")
    with pytest.raises(RecordingError, match=rf"a\.rec: offset {start}: record {seq}"):
        list(RecordingReader(path).records())


def test_dropped_record_is_reported(tmp_path: Path) -> None:
    path = write_sample(tmp_path / "a.rec")
    seq, start, end = record_spans(path)[3]
    raw = path.read_bytes()
    path.write_bytes(raw[:start] + raw[end:])
    problems = verify_recording(path).problems
    assert [(p.kind, p.record, p.offset) for p in problems] == [("removed", seq, start)]


def test_two_swapped_records_are_reported_as_reordered(tmp_path: Path) -> None:
    path = write_sample(tmp_path / "a.rec")
    spans = record_spans(path)
    (s1, a, b), (_, _, c) = spans[3], spans[4]
    raw = path.read_bytes()
    path.write_bytes(raw[:a] + raw[b:c] + raw[a:b] + raw[c:])
    problems = verify_recording(path).problems
    assert [(p.kind, p.record) for p in problems] == [("reordered", s1)]
    assert problems[0].offset == a + (c - b)


def test_inserted_record_is_reported(tmp_path: Path) -> None:
    path = write_sample(tmp_path / "a.rec")
    spans = record_spans(path)
    seq, a, b = spans[2]
    raw = path.read_bytes()
    path.write_bytes(raw[:b] + raw[a:b] + raw[b:])  # a replayed copy of record 2
    problems = verify_recording(path).problems
    assert [(p.kind, p.record, p.offset) for p in problems] == [("inserted", seq, b)]


def test_records_appended_after_the_seal_are_reported(tmp_path: Path) -> None:
    path = write_sample(tmp_path / "a.rec")
    _, a, b = record_spans(path)[1]
    with open(path, "ab") as fh:
        fh.write(path.read_bytes()[a:b])
    assert [p.kind for p in verify_recording(path).problems] == ["appended"]


def test_rewritten_chain_is_caught_by_the_index_anchor(tmp_path: Path) -> None:
    from auditor.recording import RecordingWriter

    path = write_sample(tmp_path / "a.rec")
    anchor = verify_recording(path).final_hash
    forged = tmp_path / "forged.rec"
    with RecordingWriter.create(forged, {"session_id": "test", "user": "joe"}) as w:
        for t, stream, data in SAMPLE[:-1]:  # drop the exit status, rebuild the chain
            w.append(stream, data, t)
    assert verify_recording(forged).ok
    verdict = verify_recording(forged, anchor)
    assert [p.kind for p in verdict.problems] == ["anchor"]
