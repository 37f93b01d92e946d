"""Sessions without a pty (``ssh node 'cmd'``) render as lines everywhere.

The node's program writes bare ``\\n``; the user's own tty turned it into
``\\r\\n``. Every way of showing the recording must do the same, or each
line starts where the one before ended.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from pathlib import Path

import pytest

from auditor.index import SessionIndex
from auditor.recording import RecordingReader, RecordingWriter, Stream, encode_resize
from auditor.recording.asciicast import parse_asciicast
from auditor.recording.shown import ShownOutput, had_pty, onlcr
from auditor.replay import snapshot
from auditor.replay.emulator import Terminal
from auditor.replay.keyframes import MAGIC, KeyframeIndex, sidecar_path
from auditor.replay.recorded import recording_keyframes, recording_source
from auditor.tui.app import make_app
from auditor.tui.samples import bundled_samples, import_samples
from auditor.tui.screens.replay_screen import ReplayScreen
from tests.harness.auditor_cli import AuditorCli
from tests.proxy.conftest import Setup
from tests.replay.sessions import auditor_in_tmux, recording_path, wait_sessions

# stdout and stderr are separate pipes on the node: pauses fix their order.
COMMAND = (
    "printf 'alpha\\nbeta\\ngamma\\n'; sleep 0.2; printf 'oops\\n' >&2; sleep 0.2; "
    "printf 'delta\\n'"
)
LINES = ["alpha", "beta", "gamma", "oops", "delta"]


def test_an_exec_session_shows_as_lines_on_every_path(setup: Setup, tmp_path: Path) -> None:
    status, out, err = setup.ssh(setup.target(), COMMAND)
    assert (status, out, err) == (0, b"alpha\nbeta\ngamma\ndelta\n", b"oops\n")
    session_id = wait_sessions(setup, "ended")[0]
    cli = setup.cli

    text = cli.run("replay", session_id, "--format", "text").stdout
    assert text.splitlines() == LINES
    # One transcript: export prints exactly what replay prints.
    assert cli.run("export", session_id, "--format", "text").stdout == text

    cast = tmp_path / "exec.cast"
    cli.run("export", session_id, "--format", "asciicast", "-o", str(cast))
    played = Terminal(80, 24)
    for _t, stream, data in parse_asciicast(cast).events:
        if stream is Stream.OUTPUT:
            played.feed(data)
    assert played.text().splitlines() == LINES

    hits = json.loads(cli.run("sessions", "--search", "gamma", "--json").stdout)
    assert [h["id"] for h in hits] == [session_id]
    assert "gamma" in hits[0]["match"] and "alpha" not in hits[0]["match"]

    # Seeking draws the screen from the keyframes: lines there too.
    keyframes = recording_keyframes(recording_path(setup, session_id))
    source = recording_source(RecordingReader(recording_path(setup, session_id)))
    end = keyframes.seek(1e9, source)
    assert end.text().splitlines() == LINES

    # Started at its end, the player draws the screen from the keyframes.
    length = RecordingReader(recording_path(setup, session_id)).summary().duration
    at = f"{math.floor(length * 1000) / 1000:.3f}"
    tmux = auditor_in_tmux(cli, "replay", session_id[:8], "--at", at)
    try:
        tmux.wait_for("rc=")
        # With the history: tmux's "Pane is dead" line can scroll the top one off.
        lines = tmux._run("capture-pane", "-p", "-S", "-", "-t", tmux.session).splitlines()
        assert "alpha" in lines
        assert lines[lines.index("alpha") :][:5] == LINES
    finally:
        tmux.kill()

    asyncio.run(_in_the_tui(setup.cli.data_dir, session_id))


async def _in_the_tui(data_dir: Path, session_id: str) -> None:
    app = make_app(data_dir, run_proxy=False, sample_dir=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        session = await app.reader(lambda index: index.get_session(session_id))
        app.open_session(session)
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        await asyncio.wait_for(screen.until(lambda s: s.frames > 0), 10)
        await pilot.press("end")
        await asyncio.wait_for(screen.until(lambda s: "delta" in s.terminal_view.text), 10)
        assert screen.terminal_view.text.splitlines()[:5] == LINES


def _write(path: Path, records: list[tuple[float, Stream, bytes]]) -> RecordingReader:
    with RecordingWriter.create(path, {}) as writer:
        for t, stream, data in records:
            writer.append(stream, data, t)
    return RecordingReader(path)


def test_a_pty_is_told_by_its_request_before_the_channel_starts(tmp_path: Path) -> None:
    pty = _write(
        tmp_path / "pty.rec",
        [
            (0.0, Stream.RESIZE, encode_resize(80, 24)),
            (0.0, Stream.MARKER, b"shell"),
            (0.1, Stream.OUTPUT, b"$ ls\r\nbin\r\n"),
        ],
    )
    exec_ = _write(
        tmp_path / "exec.rec",
        [(0.0, Stream.MARKER, b"exec cat"), (0.0, Stream.INPUT, b"a\n" * 100)],
    )
    bare = _write(tmp_path / "bare.rec", [(0.2, Stream.STDERR, b"x\n")])
    empty = _write(tmp_path / "empty.rec", [])
    assert had_pty(pty) is True
    assert had_pty(exec_) is False
    assert had_pty(bare) is False
    assert had_pty(empty) is None  # a live channel that has not started yet

    assert [r.data for r in ShownOutput().records(pty.records())][-1] == b"$ ls\r\nbin\r\n"
    shown = ShownOutput().records(bare.records())
    assert [r.data for r in shown] == [b"x\r\n"]
    assert onlcr(b"a\r\nb\n") == b"a\r\r\nb\r\n"  # what a tty does: \r\r\n shows as \r\n


def test_keyframes_of_an_older_version_are_rebuilt(tmp_path: Path) -> None:
    """Sidecars built before exec output got its carriage returns showed a
    staircase: they are rebuilt, not trusted."""
    path = tmp_path / "exec.rec"
    _write(
        path,
        [
            (0.0, Stream.MARKER, b"exec ls"),
            *((i / 10, Stream.OUTPUT, b"x%d\n" % i) for i in range(5)),
        ],
    )
    stale = KeyframeIndex.build(((i / 10, "output", b"x%d\n" % i) for i in range(5)), every_bytes=1)
    stale.save(sidecar_path(path))
    raw = sidecar_path(path).read_bytes()
    sidecar_path(path).write_bytes(MAGIC[:-1] + b"\x01" + raw[len(MAGIC) :])

    index = recording_keyframes(path, every_bytes=1)
    source = recording_source(RecordingReader(path))
    assert index.seek(1.0, source).text().splitlines() == ["x0", "x1", "x2", "x3", "x4"]
    assert sidecar_path(path).read_bytes().startswith(MAGIC)


def test_the_sample_exec_sessions_replay_as_lines(tmp_path: Path) -> None:
    """What a new user opens first: the bundled exec samples, as lines."""
    source = bundled_samples()
    assert source is not None
    cli = AuditorCli(tmp_path / "home")
    cli.data_dir.mkdir(mode=0o700)
    with SessionIndex.open(cli.data_dir) as index:
        import_samples(index, source)
    rows = json.loads(cli.run("sessions", "--json").stdout)
    failed = next(r["id"] for r in rows if "deploy failed" in (r["command"] or ""))
    awk = next(r["id"] for r in rows if (r["command"] or "").startswith("awk"))

    lines = cli.run("replay", failed, "--format", "text").stdout.splitlines()
    assert "deploy failed" in lines
    assert all(not line.startswith(" ") for line in lines)
    lines = cli.run("replay", awk, "--format", "text").stdout.splitlines()
    assert len(lines) == 8000
    assert lines[0].startswith("000001 GET /api/v1/items/7 200")
    assert lines[-1].startswith("008000 GET /api/v1/items/0 200")


def test_keyframes_of_an_older_snapshot_format_are_rebuilt_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.rec"
    _write(path, [(0.0, Stream.MARKER, b"shell"), (0.1, Stream.OUTPUT, b"hello\r\n")])
    with monkeypatch.context() as m:
        m.setattr(snapshot, "FORMAT", 1)
        recording_keyframes(path, every_bytes=1)
    caplog.set_level(logging.INFO)
    index = recording_keyframes(path, every_bytes=1)
    assert index.seek(1.0, recording_source(RecordingReader(path))).text() == "hello"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
