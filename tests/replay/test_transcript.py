"""``auditor replay --format text``: the transcript a reader needs, and the
one-line errors every replay format gives for bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

from auditor.index import SessionIndex
from auditor.recording import RecordingWriter, Stream
from auditor.replay.keyframes import sidecar_path
from auditor.replay.transcript import transcript_lines
from auditor.upkeep.keyframe_files import KeyframeUpkeep
from tests.harness.auditor_cli import AuditorCli
from tests.replay.sessions import import_cast


def lines_of(*chunks: bytes, cols: int = 20, rows: int = 4) -> list[str]:
    return list(transcript_lines([(i, "output", c) for i, c in enumerate(chunks)], cols, rows))


def test_lines_that_scrolled_off_come_out_in_order_with_the_final_screen() -> None:
    out = lines_of(b"".join(b"line %d\r\n" % i for i in range(10)) + b"$ ")
    assert out == [f"line {i}" for i in range(10)] + ["$"]


def test_escape_sequences_are_resolved_not_stripped() -> None:
    # A progress bar redrawn in place, a typo fixed with backspace, colours.
    out = lines_of(b"10%\r50%\r100%\r\n", b"lss\x08 \x08\r\n", b"\x1b[31mred\x1b[0m\r\n")
    assert out == ["100%", "ls", "red"]


def test_a_cleared_screen_is_kept() -> None:
    assert lines_of(b"first\r\nsecond\r\n", b"\x1b[H\x1b[2J", b"after clear") == [
        "first",
        "second",
        "after clear",
    ]


def test_a_full_screen_program_shows_once_as_its_final_screen_in_order() -> None:
    out = lines_of(
        b"$ top\r\n",
        b"\x1b[?1049h\x1b[H\x1b[2Jload 1\r\nproc a",
        b"\x1b[H\x1b[2Jload 2\r\nproc b",
        b"\x1b[?1049l$ echo done\r\ndone\r\n",
        rows=6,
    )
    assert out == ["$ top", "load 2", "proc b", "$ echo done", "done"]


def test_a_resize_is_followed() -> None:
    out = list(
        transcript_lines(
            [(0.0, "resize", (10, 2)), (0.1, "output", b"0123456789abc\r\nnext\r\n")], 80, 24
        )
    )
    assert out == ["0123456789", "abc", "next"]


def test_replay_text_and_asciicast_of_an_imported_session(cli: AuditorCli, tmp_path: Path) -> None:
    session_id = import_cast(cli, tmp_path, [(0.5, "one\r\n"), (1.0, "\x1b[1mtwo\x1b[0m\r\n")])
    assert cli.run("replay", session_id[:6], "--format", "text").stdout == "one\ntwo\n"
    assert cli.run("replay", session_id[:6]).stdout == "one\ntwo\n"  # not a terminal: text
    cast = cli.run("replay", session_id[:6], "--format", "asciicast").stdout.splitlines()
    assert json.loads(cast[0])["version"] == 2
    assert [json.loads(line)[2] for line in cast[1:]] == ["one\r\n", "\x1b[1mtwo\x1b[0m\r\n"]


def one_line_error(cli: AuditorCli, *args: str, streamed: bool = False) -> str:
    """The error line; ``streamed``: output before the damage may precede it."""
    out = cli.run(*args, check=False)
    assert out.returncode != 0, out
    assert streamed or out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_bad_ids_and_broken_recordings_are_one_line(cli: AuditorCli, tmp_path: Path) -> None:
    assert "no data directory" in one_line_error(cli, "replay", "abc")
    session_id = import_cast(cli, tmp_path, [(0.1, "session output\r\n")])
    with SessionIndex.open(cli.data_dir) as index:
        for twin in ("abc1", "abc2", "abc3"):
            index.start_session(twin + "0" * 28, status="ended")
        index.start_session("f0" + "0" * 30, status="ended", kind="forward", recording_path=None)
        index.start_session("f1" + "0" * 30, status="ended", kind="tcp", recording_path=None)
        for many in range(6):
            index.start_session(f"dd{many}" + "0" * 29, status="ended")
    assert one_line_error(cli, "replay", "0123456789") == "auditor: unknown session ID '0123456789'"
    assert "IDs are hexadecimal" in one_line_error(cli, "replay", "xyz")
    assert one_line_error(cli, "replay", "abc") == (
        "auditor: ambiguous session ID 'abc': matches abc1000, abc2000, abc3000; give more of it"
    )
    assert one_line_error(cli, "replay", "dd").endswith(", dd4000 and more; give more of it")
    assert one_line_error(cli, "replay", "abc1") == "auditor: session abc10000 has no recording"
    assert "is a port forward: auditor keeps its endpoints, bytes and times" in (
        one_line_error(cli, "replay", "f0")
    )
    assert "TCP pipe" not in one_line_error(cli, "export", "f0")
    assert "passed to the node unrecorded (session_recording: node or off)" in (
        one_line_error(cli, "replay", "f1")
    )

    # A recording changed after it was written: the one line says where.
    rows = json.loads(cli.run("sessions", "--json").stdout)
    path = Path(next(r["recording_path"] for r in rows if r["id"] == session_id))
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"session output", b"session 0utput"))
    for fmt in ("text", "asciicast"):
        error = one_line_error(cli, "replay", session_id, "--format", fmt, streamed=True)
        assert str(path) in error and "auditor verify" in error
    path.write_bytes(b"not a recording at all")
    assert "not an auditor recording" in one_line_error(cli, "replay", session_id)
    path.unlink()
    assert "recording file not found" in one_line_error(cli, "replay", session_id)


def test_keyframe_upkeep_builds_ended_sessions_and_grown_live_ones(tmp_path: Path) -> None:
    index = SessionIndex.open(tmp_path)
    try:
        upkeep = KeyframeUpkeep(grow_bytes=64 * 1024, since=time.time() - 1)
        paths = {}
        writers = {}
        for name in ("ended", "live"):
            sid = index.new_session_id()
            paths[name] = index.recording_path(sid)
            writers[name] = RecordingWriter.create(paths[name], {"session_id": sid})
            index.start_session(sid, recording_path=str(paths[name]))
            writers[name].append(Stream.OUTPUT, b"x" * 1000 + b"\r\n", 0.1)
            writers[name].flush()
            if name == "ended":
                writers[name].close()
                index.end_session(sid)
        assert upkeep.run(index) == 1  # the ended one; the live one is too small yet
        assert sidecar_path(paths["ended"]).exists()
        assert not sidecar_path(paths["live"]).exists()
        assert upkeep.run(index) == 0  # nothing new
        for i in range(100):
            writers["live"].append(Stream.OUTPUT, b"y" * 1000 + b"\r\n", 0.2 + i / 100)
        writers["live"].flush()
        assert upkeep.run(index) == 1
        assert sidecar_path(paths["live"]).exists()
        writers["live"].close()
    finally:
        index.close()


def test_full_screen_program_transcript_does_not_depend_on_where_chunks_fall() -> None:
    """vim's last newline scrolls its screen just before it leaves: whichever
    record that newline lands in, the transcript shows the screen before it."""
    from auditor.replay.keyframes import OUTPUT
    from auditor.replay.transcript import transcript_lines

    stream = (
        b"$ vi notes\r\n\x1b[?1049h\x1b[H\x1b[2JHello from vim\r\n"
        + b"~\r\n" * 22
        + b'\x1b[24;1H"notes" 1L written\r\n\x1b[?1049l$ echo after\r\nafter\r\n'
    )
    seen = set()
    for cut in range(len(stream) + 1):
        records = [(0.0, OUTPUT, stream[:cut]), (0.1, OUTPUT, stream[cut:])]
        lines = list(transcript_lines(records, 80, 24))
        assert lines.index("Hello from vim") < lines.index('"notes" 1L written'), (cut, lines)
        seen.add(tuple(lines))
    assert len(seen) == 1
