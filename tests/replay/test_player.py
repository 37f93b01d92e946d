"""``auditor replay --format play``: the timing pipeline, keys, redraws, and
the real command in tmux against sessions recorded through the proxy."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.replay.emulator import Terminal
from auditor.replay.keys import FASTER, LEFT, PAUSE, QUIT, RIGHT, SLOWER, STEP, KeyParser
from auditor.replay.player import at_rest
from auditor.replay.redraw import redraw
from auditor.replay.timing import (
    absolute_time,
    at_speed,
    cap_idle,
    relative_time,
    schedule,
)
from tests.harness.auditor_cli import AuditorCli
from tests.proxy.conftest import Setup
from tests.replay.sessions import (
    REPORTED,
    auditor_in_tmux,
    end_session,
    import_cast,
    record_vim,
    run,
    ssh_session,
    wait_sessions,
    wait_title,
)

RECORDS = [(0.5, "output", b"a"), (1.0, "output", b"b"), (11.0, "output", b"c"), (11.0, "x", None)]


def test_relative_time_counts_from_the_start_and_never_goes_back() -> None:
    delays = [d for d, _ in relative_time([*RECORDS, (10.0, "output", b"late")], start=0.25)]
    assert delays == [0.25, 0.5, 10.0, 0.0, 0.0]


def test_cap_idle_limits_only_long_pauses() -> None:
    items = [(0.5, RECORDS[0]), (10.0, RECORDS[2])]
    assert [d for d, _ in cap_idle(items, 2.0)] == [0.5, 2.0]
    assert [d for d, _ in cap_idle(items, None)] == [0.5, 10.0]


def test_absolute_time_and_speed() -> None:
    timed = list(absolute_time([(0.5, RECORDS[0]), (0.5, RECORDS[1]), (2.0, RECORDS[2])]))
    assert [t for t, _ in timed] == [0.5, 1.0, 3.0]
    assert [t for t, _ in at_speed(timed, 2.0)] == [0.25, 0.5, 1.5]


def test_schedule_chains_the_steps_and_keeps_the_records() -> None:
    out = list(schedule(RECORDS, start=0.0, speed=2.0, max_idle=1.0))
    assert [t for t, _ in out] == [0.25, 0.5, 1.0, 1.0]
    assert [r for _, r in out] == RECORDS


def test_the_title_waits_for_output_that_ends_inside_a_sequence() -> None:
    for whole in (b"abc", b"\x1b[31m", b"\xe4\xb8\xad", b"\x1b]0;t\x07ok", b"\x1b(B", b"\x1b7"):
        assert at_rest(whole), whole
    for cut in (b"\x1b[3", b"x\xe4\xb8", b"\x1b]0;t", b"\xc3", b"\x1b", b"\x1b(", b"\x1bP1"):
        assert not at_rest(cut), cut


def test_keys_from_a_terminal_ignore_replies_to_queries() -> None:
    parser = KeyParser()
    assert parser.feed(b" \x1b[C\x1b[D\x1bOA\x1b[B+-.q") == [
        PAUSE,
        RIGHT,
        LEFT,
        FASTER,
        SLOWER,
        FASTER,
        SLOWER,
        STEP,
        QUIT,
    ]
    # Replies vim's queries provoke: device attributes, colours, cursor position.
    replies = b"\x1b[>41;380;0c\x1b]11;rgb:0000/0000/0000\x07\x1b[24;80R\x1bP1$r0m\x1b\\"
    assert parser.feed(replies) == []
    # A sequence split across reads is still one sequence.
    assert parser.feed(b"\x1b]10;rgb:ffff/ff") == []
    assert parser.feed(b"ff/ffff\x07q") == [QUIT]
    assert parser.feed(b"\x1b") == []  # the Escape key alone: nothing
    assert parser.feed(b" ") == [PAUSE]


def test_redraw_reproduces_the_screen_under_and_on_the_alternate_screen() -> None:
    source = Terminal(40, 8)
    source.feed(b"plain \x1b[1;31mbold red\x1b[0m \x1b[38;5;208morange\x1b[0m \xe4\xb8\xad\r\n")
    source.feed(b"\x1b[7mreverse\x1b[0m \x1b[4;44munder blue\x1b[0m\r\nshell$ ")
    source.feed(b"\x1b[?1049h\x1b[H\x1b[2Jfull screen\x1b[3;5r\x1b[5;3H\x1b[32m")
    target = Terminal(40, 8)
    target.feed(redraw(source))
    assert target.in_alternate_screen
    assert target.lines == source.lines
    assert [target.row(y) for y in range(8)] == [source.row(y) for y in range(8)]
    assert target.cursor == source.cursor
    assert target.screen.margins == source.screen.margins
    assert target.screen.cursor.attrs == source.screen.cursor.attrs
    target.feed(b"\x1b[?1049l")
    source.feed(b"\x1b[?1049l")
    assert target.lines == source.lines
    assert [target.row(y) for y in range(8)] == [source.row(y) for y in range(8)]
    assert target.cursor == source.cursor


def test_replaying_vim_shows_vim_and_then_the_shell_again(setup: Setup, tmp_path: Path) -> None:
    session_id = record_vim(setup, tmp_path)
    tmux = auditor_in_tmux(setup.cli, "replay", session_id[:8])
    try:
        vim = tmux.wait_for(lambda s: "Hello from vim" in s and s.count("\n~") >= 10)
        assert "before-vim" not in vim
        done = tmux.wait_for(REPORTED)
        shell = done[: done.index("rc=0")]
        assert "before-vim" in shell and "after-vim" in shell
        assert "Hello from vim" not in shell and "~" not in shell
        assert "icanon" in done and "echo" in done  # the terminal is as it was
    finally:
        tmux.kill()


def record_ticks(setup: Setup, count: int = 16) -> str:
    """A session printing ``tick-N`` every half second."""
    with ssh_session(setup) as tmux:
        command = f"for i in $(seq 1 {count}); do echo tick-$i; sleep 0.5; done; echo ticks-done"
        run(tmux, command, "ticks-done", timeout=30)
        end_session(tmux)
    return wait_sessions(setup, "ended")[0]


def last_tick(screen: str) -> int:
    ticks = [int(line[5:]) for line in screen.splitlines() if line.startswith("tick-")]
    return max(ticks, default=0)


def test_keys_pause_step_seek_speed_and_quit(setup: Setup) -> None:
    session_id = record_ticks(setup)
    tmux = auditor_in_tmux(setup.cli, "replay", session_id[:8])
    try:
        tmux.wait_for("tick-2")
        tmux.type(" ")
        wait_title(tmux, "[paused]")
        paused = last_tick(tmux.screen())
        time.sleep(1.2)
        assert last_tick(tmux.screen()) == paused  # nothing moves while paused
        tmux.type(".")
        tmux.wait_for(lambda s: last_tick(s) == paused + 1)  # one frame on
        tmux.send("Right")  # 5 s on: ten ticks later
        tmux.wait_for(lambda s: last_tick(s) >= paused + 10)
        tmux.send("Left")
        tmux.wait_for(lambda s: last_tick(s) <= paused + 2)  # the screen as it was
        assert "[paused]" in wait_title(tmux, "[paused]")
        tmux.type("+")
        tmux.type(" ")
        wait_title(tmux, "[2x]")
        tmux.send("Down")
        wait_title(tmux, "[1x]")
        moving = last_tick(tmux.screen())
        tmux.wait_for(lambda s: last_tick(s) > moving)  # playing again
        tmux.type("q")
        done = tmux.wait_for(REPORTED)
        assert "ticks-done" not in done.splitlines()  # quit before the end
        assert "icanon" in done and "echo" in done
    finally:
        tmux.kill()


def test_ctrl_c_quits_and_restores_the_terminal(setup: Setup) -> None:
    session_id = record_vim(setup, Path(setup.node.directory))
    tmux = auditor_in_tmux(setup.cli, "replay", session_id[:8], "--speed", "0.25")
    try:
        tmux.wait_for(lambda s: "Hello from vim" in s)  # on vim's alternate screen
        tmux.send("C-c")
        done = tmux.wait_for(REPORTED)
        assert "rc=0" in done
        assert "Hello from vim" not in done  # back on the main screen
        assert "icanon" in done and "echo" in done
    finally:
        tmux.kill()


def test_replay_follows_a_live_session_until_it_ends(setup: Setup) -> None:
    with ssh_session(setup) as session:
        run(session, "echo live-one", "live-one")
        session_id = wait_sessions(setup, "live")[0]
        tmux = auditor_in_tmux(setup.cli, "replay", session_id[:8])
        try:
            tmux.wait_for("live-one")
            wait_title(tmux, "/ live")
            run(session, "echo live-two", "live-two")
            tmux.wait_for("live-two", timeout=5)
            end_session(session)
            done = tmux.wait_for(REPORTED)
            assert "logout" in done
        finally:
            tmux.kill()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "play"], "--format play needs a terminal; use --format text"),
        (["--speed", "fast"], "--speed: expected a number"),
        (["--speed", "0"], "--speed: expected a number"),
        (["--max-idle", "-1"], "--max-idle: expected a duration"),
        (["--at", "soon"], "--at: expected a time into the session"),
        (["--format", "text", "--speed", "2"], "--speed: only for --format play"),
    ],
)
def test_bad_play_arguments_are_one_line(
    cli: AuditorCli, tmp_path: Path, args: list[str], message: str
) -> None:
    session_id = import_cast(cli, tmp_path, [(0.5, "hello\r\n")])
    out = cli.run("replay", session_id, *args, check=False)
    assert out.returncode != 0
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1
    assert message in out.stderr


def test_starting_past_the_end_is_one_line(cli: AuditorCli, tmp_path: Path) -> None:
    session_id = import_cast(cli, tmp_path, [(0.5, "hello\r\n"), (70.0, "bye\r\n")])
    main, terminal = pty.openpty()  # play needs a terminal; stderr stays a pipe
    try:
        out = subprocess.run(
            [sys.executable, "-m", "auditor", "replay", session_id[:6], "--at", "1:11"],
            stdin=terminal,
            stdout=terminal,
            stderr=subprocess.PIPE,
            env=cli.environ(),
            timeout=30,
        )
    finally:
        os.close(main)
        os.close(terminal)
    assert out.returncode == 2
    assert out.stderr.decode() == "auditor: --at 1:11: the session is only 1:10 long\n"


def test_starting_at_a_time_shows_the_screen_of_then(cli: AuditorCli, tmp_path: Path) -> None:
    events = [(i * 10.0, f"minute-part-{i}\r\n") for i in range(1, 8)]
    session_id = import_cast(cli, tmp_path, events)
    tmux = auditor_in_tmux(cli, "replay", session_id[:6], "--at", "45", "--max-idle", "0.2")
    try:
        screen = tmux.wait_for("minute-part-4")
        assert "minute-part-1" in screen  # drawn from the keyframes, not replayed
        done = tmux.wait_for(REPORTED, timeout=10)
        assert "minute-part-7" in done
    finally:
        tmux.kill()


def test_a_terminal_smaller_than_the_recording_shows_its_top_left(
    cli: AuditorCli, tmp_path: Path
) -> None:
    cast = tmp_path / "wide.cast"
    events = [
        (0.1, "top line " + "A" * 71 + "B" * 40 + "\r\n"),
        (0.2, "second line\r\n"),
        (0.3, "\x1b[30;1Hbottom row of thirty"),
        # The cursor parked where it is, seconds later: the screen stands long
        # enough to be seen on a loaded machine before the player gives it back.
        (3.0, "\x1b[30;21H"),
    ]
    lines = [json.dumps({"version": 2, "width": 120, "height": 30})]
    lines += [json.dumps([t, "o", text]) for t, text in events]
    cast.write_text("\n".join(lines) + "\n")
    out = cli.run("import", str(cast)).stdout
    session_id = out.split(" as ")[1].split()[0]
    tmux = auditor_in_tmux(cli, "replay", session_id, width=80, height=24)
    try:
        screen = tmux.wait_for("second line")
        rows = screen.splitlines()
        assert rows[0] == "top line " + "A" * 71  # cut at the edge, not wrapped
        assert rows[1] == "second line"
        assert "B" not in screen
        assert "recorded at 120x30, this terminal is 80x24" in screen
        done = tmux.wait_for(REPORTED)
        assert "recorded at 120x30" in done  # said again once the screen is given back
        assert "icanon" in done and "echo" in done
    finally:
        tmux.kill()
