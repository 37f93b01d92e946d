"""``auditor tail --live``: live output from another process, as it arrives."""

from __future__ import annotations

import io
from pathlib import Path

from auditor.index import SessionIndex
from auditor.recording import RecordingWriter, Stream, encode_resize
from auditor.replay.tail import ColouredLines, LiveTail
from tests.harness.auditor_cli import AuditorCli
from tests.proxy.conftest import Setup
from tests.replay.sessions import (
    REPORTED,
    auditor_in_tmux,
    end_session,
    import_cast,
    run,
    ssh_session,
    wait_sessions,
)


def start(index: SessionIndex, user: str) -> tuple[str, RecordingWriter]:
    session_id = index.new_session_id()
    path = index.recording_path(session_id)
    writer = RecordingWriter.create(path, {"session_id": session_id})
    index.start_session(
        session_id, user=user, login="root", node=f"{user}.example.com", recording_path=str(path)
    )
    return session_id, writer


def test_tail_into_a_pipe_gives_text_with_a_header_when_the_source_changes(
    tmp_path: Path,
) -> None:
    index = SessionIndex.open(tmp_path)
    out = io.BytesIO()
    try:
        a, wa = start(index, "alice")
        wa.append(Stream.OUTPUT, b"before tail started\r\n", 0.1)
        wa.flush()
        tail = LiveTail(index, out, raw=False)
        wa.append(Stream.OUTPUT, b"\x1b[1mfrom alice\x1b[0m\r\n$ ", 0.2)
        wa.flush()
        tail.step()
        b, wb = start(index, "bob")
        wb.append(Stream.OUTPUT, b"bob's first line\r\n", 0.1)
        wb.flush()
        tail._scan()  # the index is checked every half second; here, now
        tail.step()
        wa.append(Stream.OUTPUT, b"alice again\r\n", 0.3)
        wa.close()
        index.end_session(a)
        assert tail.step()  # following every session: goes on
        assert a not in tail.followed and b in tail.followed
        wb.close()
    finally:
        index.close()
    assert out.getvalue().decode().splitlines() == [
        f"==> {a[:8]} alice root@alice.example.com <==",
        "from alice",
        f"==> {b[:8]} bob root@bob.example.com <==",
        "bob's first line",
        f"==> {a[:8]} alice root@alice.example.com <==",
        "$ alice again",
    ]


def test_tail_of_a_session_that_is_not_live_is_one_line(cli: AuditorCli, tmp_path: Path) -> None:
    session_id = import_cast(cli, tmp_path, [(0.5, "hello\r\n")])
    out = cli.run("tail", "--live", session_id[:8], check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f"auditor: session {session_id[:8]} is not live (ended): "
        f"see it with `auditor replay {session_id[:8]}`"
    )
    out = cli.run("tail", "--live", "ffffffffff", check=False)
    assert out.returncode == 1 and out.stderr.strip() == "auditor: unknown session ID 'ffffffffff'"


def test_tail_follows_sessions_and_picks_up_new_ones_until_ctrl_c(setup: Setup) -> None:
    with ssh_session(setup) as first:
        run(first, "echo first-ready", "first-ready")
        first_id = wait_sessions(setup, "live")[0]
        tail = auditor_in_tmux(setup.cli, "tail", "--live", width=100, height=30)
        try:
            tail.wait_for("following 1 live session and any new ones (Ctrl-C to stop)")
            run(first, "echo from-first", "from-first")
            tail.wait_for("from-first", timeout=5)
            assert "first-ready" not in tail.screen()  # only what arrives from now on
            with ssh_session(setup) as second:
                run(second, "echo from-second", "from-second")
                screen = tail.wait_for("from-second", timeout=5)
                second_id = next(i for i in wait_sessions(setup, "live", 2) if i != first_id)
                assert f"==> {second_id[:8]} " in screen
                run(first, "echo first-again", "first-again")
                screen = tail.wait_for("first-again", timeout=5)
                headers = [line for line in screen.splitlines() if line.startswith("==> ")]
                assert [h.split()[1] for h in headers] == [
                    first_id[:8],
                    second_id[:8],
                    first_id[:8],
                ]
                end_session(second)
            tail.send("C-c")
            done = tail.wait_for(REPORTED)
            assert "rc=0" in done and "Traceback" not in done
            assert "icanon" in done and "echo" in done
        finally:
            tail.kill()
        end_session(first)


def test_tail_of_one_session_exits_when_it_ends(setup: Setup) -> None:
    with ssh_session(setup) as session:
        run(session, "echo ready", "ready")
        session_id = wait_sessions(setup, "live")[0]
        tail = auditor_in_tmux(setup.cli, "tail", "--live", session_id[:8])
        try:
            tail.wait_for(f"following session {session_id[:8]} until it ends")
            run(session, "printf '\\033[32mgreen-%s\\033[0m\\n' line", "green-line")
            screen = tail.wait_for("green-line", timeout=5)
            assert "==>" not in screen  # one session: no headers
            end_session(session)
            done = tail.wait_for(REPORTED)
            assert f"auditor: session {session_id[:8]} ended" in done
        finally:
            tail.kill()


def test_several_sessions_on_a_terminal_keep_colours_but_not_screen_control() -> None:
    lines = ColouredLines()
    out = lines.feed(b"\x1b[H\x1b[2J\x1b[?2004h\x1b[1;32mok\x1b[0m \x1b]0;title\x07done\r\n\x1b[3")
    assert out == b"\x1b[1;32mok\x1b[0m done\r\n"
    assert lines.feed(b"1mred\x1b[m\x07") == b"\x1b[31mred\x1b[m"


def test_tail_of_an_exec_session_shows_its_lines_as_its_user_saw_them(tmp_path: Path) -> None:
    """No pty: the node sent bare line feeds, the user's tty added the CR."""
    index = SessionIndex.open(tmp_path)
    out = io.BytesIO()
    try:
        session_id, writer = start(index, "ci")
        writer.append(Stream.MARKER, b"exec make test", 0.0)
        writer.flush()
        tail = LiveTail(index, out, session_id=session_id, raw=True)
        writer.append(Stream.OUTPUT, b"compiling\nlinking\n", 0.2)
        writer.append(Stream.STDERR, b"warning: unused\n", 0.3)
        writer.flush()
        tail.step()
        writer.close()
        index.end_session(session_id)
        assert not tail.step()
    finally:
        index.close()
    assert out.getvalue() == b"compiling\r\nlinking\r\nwarning: unused\r\n"


def test_tail_shows_where_input_was_withheld(tmp_path: Path) -> None:
    index = SessionIndex.open(tmp_path)
    out = io.BytesIO()
    try:
        a, wa = start(index, "alice")
        wa.append(Stream.RESIZE, encode_resize(80, 24), 0.0)
        wa.append(Stream.OUTPUT, b"$ sudo -v\r\n", 0.05)
        wa.flush()
        tail = LiveTail(index, out, raw=False)
        wa.append(Stream.OUTPUT, b"[sudo] password for alice: ", 0.1)
        wa.append(Stream.WITHHELD, b"", 0.2)  # the password, as the proxy records it
        wa.append(Stream.OUTPUT, b"\r\n$ ", 0.3)
        wa.close()
        index.end_session(a)
        tail.step()
    finally:
        index.close()
    assert "[sudo] password for alice: [input withheld]" in out.getvalue().decode().splitlines()
