"""Seeking through keyframes shows what a full replay shows."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.replay.emulator import Terminal
from auditor.replay.keyframes import (
    KeyframeBuilder,
    KeyframeError,
    KeyframeIndex,
    Record,
    load_or_update,
    records_after,
    sidecar_path,
)
from auditor.replay.snapshot import SnapshotError, restore_snapshot, take_snapshot
from tests.replay.strategies import records, terminal_output

COLS, ROWS = 17, 5


def full_replay(recs: list[Record], until: float) -> Terminal:
    term = Terminal(COLS, ROWS)
    for t, kind, data in recs:
        if t > until:
            break
        if kind == "output":
            term.feed(data)
        elif kind == "resize":
            term.resize(*data)
    return term


def source(recs: list[Record]) -> Any:
    def records_from(start: float) -> Iterable[Record]:
        return (r for r in recs if r[0] >= start)

    return records_from


def seen(term: Terminal) -> Any:
    return (
        term.lines,
        [term.row(y) for y in range(term.rows)],
        term.cursor,
        term.in_alternate_screen,
        term.title,
    )


@settings(max_examples=150, deadline=None)
@given(recs=records(), at=st.floats(0, 15), every=st.integers(1, 200))
def test_seek_matches_a_full_replay(recs: list[Record], at: float, every: int) -> None:
    index = KeyframeIndex.build(recs, COLS, ROWS, every_bytes=every, every_records=3)
    assert seen(index.seek(at, source(recs))) == seen(full_replay(recs, at))


@settings(max_examples=150, deadline=None)
@given(out=terminal_output(), cut=st.integers(0, 1000))
def test_snapshot_round_trip_continues_like_the_original(out: bytes, cut: int) -> None:
    cut %= len(out) + 1
    term = Terminal(COLS, ROWS)
    term.feed(out[:cut])
    if not term.stream.at_rest:
        with pytest.raises(ValueError, match="middle of an escape sequence"):
            take_snapshot(term)
        return
    blob = take_snapshot(term)
    twin = restore_snapshot(blob)
    assert take_snapshot(twin) == blob
    assert seen(twin) == seen(term)
    term.feed(out[cut:])
    twin.feed(out[cut:])
    assert seen(twin) == seen(term)


def test_a_character_split_by_a_snapshot_completes_after_restore() -> None:
    term = Terminal(COLS, ROWS)
    term.feed("x中".encode()[:2])
    twin = restore_snapshot(take_snapshot(term))
    twin.feed("中".encode()[1:])
    assert twin.lines[0].rstrip() == "x中"


def test_keyframes_wait_for_the_end_of_an_escape_sequence() -> None:
    builder = KeyframeBuilder(COLS, ROWS, every_bytes=1)
    builder.add(1.0, "output", b"ab\x1b[3")
    builder.add(2.0, "output", b"1mred")
    assert [k.t for k in builder.index.keyframes] == [0.0, 2.0]


def recording(n: int = 200) -> list[Record]:
    return [
        (i / 10, "output", b"line %d \x1b[3%dmcolour\x1b[0m\r\n" % (i, i % 8)) for i in range(n)
    ]


def test_sidecar_round_trip_is_private(tmp_path: Path) -> None:
    recs = recording()
    index = KeyframeIndex.build(recs, COLS, ROWS, every_bytes=500)
    path = sidecar_path(tmp_path / "session.rec")
    index.save(path)
    assert path.name == "session.rec.keyframes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = KeyframeIndex.load(path)
    assert loaded.keyframes == index.keyframes
    assert loaded.size == path.stat().st_size
    assert seen(loaded.seek(7.3, source(recs))) == seen(full_replay(recs, 7.3))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b"not keyframes at all", "is not a keyframe file"),
        (lambda b: b[: len(b) - 7], "is corrupt"),
        (lambda b: b[:-3000] + b"\xff" + b[-2999:], "is corrupt"),
        (lambda b: b[:30], "truncated"),
    ],
)
def test_a_damaged_sidecar_is_a_clear_error(tmp_path: Path, damage: Any, message: str) -> None:
    path = tmp_path / "s.keyframes"
    KeyframeIndex.build(recording(), COLS, ROWS, every_bytes=500).save(path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(KeyframeError, match=message):
        KeyframeIndex.load(path)


def test_a_damaged_snapshot_is_a_clear_error() -> None:
    with pytest.raises(SnapshotError, match="corrupt keyframe snapshot"):
        restore_snapshot(b"\x78\x9c garbage")


def test_a_damaged_sidecar_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    recs = recording()
    path = tmp_path / "s.keyframes"
    path.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        index = load_or_update(path, source(recs), COLS, ROWS, every_bytes=500)
    assert "not a keyframe file; rebuilding it" in caplog.text
    assert KeyframeIndex.load(path).keyframes == index.keyframes
    assert len(index.keyframes) >= 5


def test_a_live_session_extends_its_keyframes(tmp_path: Path) -> None:
    recs = recording(300)
    path = tmp_path / "s.keyframes"
    load_or_update(path, source(recs[:120]), COLS, ROWS, every_bytes=700)
    extended = load_or_update(path, source(recs), COLS, ROWS, every_bytes=700)
    fresh = KeyframeIndex.build(recs, COLS, ROWS, every_bytes=700)
    assert extended.keyframes == fresh.keyframes
    assert KeyframeIndex.load(path).keyframes == fresh.keyframes


def test_records_after_skips_what_the_keyframe_applied() -> None:
    recs: list[Record] = [(1.0, "output", b"a"), (1.0, "output", b"b"), (1.0, "output", b"c")]
    builder = KeyframeBuilder(COLS, ROWS, every_records=2)
    for rec in recs:
        builder.add(*rec)
    last = builder.index.keyframes[-1]
    assert (last.ordinal, last.same_t) == (2, 2)
    assert list(records_after(last, source(recs))) == [(1.0, "output", b"c")]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recs=records())
def test_seek_before_the_first_record_is_the_blank_terminal(recs: list[Record]) -> None:
    shifted = [(t + 1.0, kind, data) for t, kind, data in recs]
    index = KeyframeIndex.build(shifted, COLS, ROWS, every_bytes=10)
    assert index.seek(0.5, source(shifted)).text() == ""
