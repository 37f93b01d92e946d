"""Moments cite what the screen showed: the printed time never lands before it."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.recording import RecordingReader, RecordingWriter, Stream, encode_resize
from auditor.replay.command_reader import session_commands
from auditor.replay.moment import citable, format_time, parse_time, reference
from auditor.replay.playback import Playback


def test_the_roundest_time_where_the_screen_stands() -> None:
    assert citable(0.95, 1.0) == 1.0  # a tenth nearest the end of the stretch
    assert citable(0.61, 1.07) == 1.0
    assert citable(1.03, 1.07) == 1.07  # no tenth in it: a hundredth
    assert citable(1.031, 1.034) == 1.034  # nor a hundredth: the time itself
    assert citable(2.0, 2.0) == 2.0
    # The screen changed again 0.4 ms after: never a time at or past that.
    assert citable(1.0312, 1.0341, before=1.0345) == 1.034
    assert citable(1.0341, 1.03413, before=1.03417) == 1.03413
    # Its echo stamped with the Enter's own time (an imported cast): before it.
    assert citable(1.0, 1.5, before=1.5) == 1.4
    assert citable(1.46, 1.5, before=1.5) == 1.49


def test_printed_times_are_exact_and_never_early() -> None:
    assert format_time(83.4) == "1:23.4"
    assert format_time(83.45) == "1:23.45"
    assert format_time(83.4171, 3) == "1:23.418"  # the millisecond after, not before
    assert format_time(83.4171) == "1:23.4171"  # a microsecond time, printed as it is
    assert format_time(3723.0) == "1:02:03.0"
    for t in (0.1, 2.2276, 59.999, 83.4171, 3723.0005, 83.4, 3723.000001):
        assert parse_time(format_time(t)) >= t  # read back, it draws what is at t
        assert parse_time(format_time(t)) - t < 0.000001
    assert parse_time("1:23.4") == 83.4 == parse_time("83.4")  # the same float either way
    assert reference("3f2a9c12deadbeef", 83.45) == "3f2a9c12@1:23.45"


@pytest.mark.parametrize(
    ("drawn", "enter", "echo"),
    [
        (2.085, 2.095, 2.1),
        (2.055, 2.095, 2.1),
        (2.005, 2.095, 2.1),
        # The echo back within the millisecond after the Enter (a fast loopback
        # node), the line drawn a few ms before: rounding up to the millisecond
        # would show the command's output.
        (2.0912, 2.0952, 2.0955),
        (2.0951, 2.0953, 2.0958),  # not even a millisecond between
        (2.05, 2.1, 2.1),  # the echo stamped with the Enter's time (a cast)
    ],
)
def test_a_command_entered_quickly_is_cited_where_it_shows(
    tmp_path: Path, drawn: float, enter: float, echo: float
) -> None:
    """Up arrow, then Enter a few ms after bash redrew the line: rounding the
    Enter's time down to a tenth would show the empty prompt, up to the
    millisecond the command's output."""
    items = [
        (0.0, Stream.RESIZE, encode_resize(40, 6)),
        (0.1, Stream.OUTPUT, b"$ "),
        (drawn - 0.0001, Stream.INPUT, b"\x1b[A"),
        (drawn, Stream.OUTPUT, b"echo arrows"),
        (enter, Stream.INPUT, b"\r"),
        (echo, Stream.OUTPUT, b"\r\narrows\r\n$ "),
    ]
    path = tmp_path / "s.rec"
    writer = RecordingWriter.create(path, {})
    for t, stream, data in items:
        writer.append(stream, data, t)
    writer.close()
    reader = RecordingReader(path)
    [command] = session_commands(reader.records())
    assert drawn <= command.t < echo
    t = parse_time(format_time(command.t))  # the moment as printed, read back
    playback = Playback(reader)
    playback.seek(t)
    screen = [line.rstrip() for line in playback.terminal.text().splitlines()]
    assert screen[-1] == "$ echo arrows"
    # The replay screen's `y` at that position cites the same screen.
    assert drawn <= playback.moment_t <= t
    playback.seek(parse_time(format_time(playback.moment_t)))
    assert playback.terminal.text().splitlines()[-1].rstrip() == "$ echo arrows"
