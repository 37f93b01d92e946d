"""Commands as the user's screen showed them when they pressed Enter."""

from __future__ import annotations

import json

from auditor.recording import Record, RecordingReader, Stream, encode_resize
from auditor.replay.command_reader import Command, session_commands
from auditor.replay.moment import parse_moment
from auditor.replay.playback import Playback
from tests.proxy.conftest import Setup
from tests.replay.sessions import (
    at_prompt,
    end_session,
    recording_path,
    run,
    ssh_session,
    wait_sessions,
)

OUT, IN = Stream.OUTPUT, Stream.INPUT


def records(*items: tuple[float, Stream, bytes], pty: bool = True) -> list[Record]:
    head = [(0.0, Stream.RESIZE, encode_resize(40, 6))] if pty else []
    return [Record(i, t, s, d, 0) for i, (t, s, d) in enumerate([*head, *items])]


def test_the_edited_line_not_the_keystrokes() -> None:
    got = list(
        session_commands(
            records(
                (0.1, OUT, b"$ "),
                (1.0, IN, b"lsx"),
                (1.1, OUT, b"lsx"),
                (1.2, IN, b"\x7f"),
                (1.3, OUT, b"\x08\x1b[K"),
                (1.4, IN, b" -l\r"),
                (1.5, OUT, b" -l\r\ntotal 0\r\n$ "),
                (2.0, IN, b"\x1b[A"),  # history: the line comes back
                (2.1, OUT, b"ls -l"),
                (2.2, IN, b"\r"),
                (2.3, OUT, b"\r\ntotal 0\r\n$ "),
            )
        )
    )
    assert got == [Command(1.4, "ls -l", "$"), Command(2.2, "ls -l", "$")]


def test_pasted_line_echoed_after_enter_and_a_wrapped_long_one() -> None:
    long = "echo " + "x" * 60
    got = list(
        session_commands(
            records(
                (0.1, OUT, b"root@db:~# "),
                (1.0, IN, b"uptime\r"),
                (1.1, OUT, b"uptime\r\n up 3 days\r\nroot@db:~# "),
                (2.0, IN, long.encode() + b"\r"),
                (2.1, OUT, long.encode() + b"\r\n" + b"x" * 60 + b"\r\nroot@db:~# "),
            )
        )
    )
    assert got == [Command(1.0, "uptime", "root@db:~#"), Command(2.0, long, "root@db:~#")]


def test_an_unechoed_password_is_never_a_command() -> None:
    got = list(
        session_commands(
            records(
                (0.1, OUT, b"$ "),
                (1.0, IN, b"sudo -i\r"),
                (1.1, OUT, b"sudo -i\r\n[sudo] password for joe: "),
                (2.0, IN, b"hunter2\r"),
                (2.1, OUT, b"\r\nroot# "),
                (3.0, IN, b"id\r"),
                (3.1, OUT, b"id\r\nuid=0(root)\r\nroot# "),
                (4.0, IN, b"rm -rf /tmp/x\x03"),  # typed, then abandoned with Ctrl-C
                (4.1, OUT, b"rm -rf /tmp/x^C\r\nroot# "),
            )
        )
    )
    assert got == [Command(1.0, "sudo -i", "$"), Command(3.0, "id", "root#")]
    assert all("hunter2" not in c.line for c in got)


def test_full_screen_programs_and_exec_sessions() -> None:
    vim = records(
        (0.1, OUT, b"$ "),
        (1.0, IN, b"vi notes\r"),
        (1.1, OUT, b"vi notes\r\n\x1b[?1049h\x1b[H\x1b[2J~\r\n~"),
        (2.0, IN, b":wq\r"),
        (2.1, OUT, b"\x1b[6;1H:wq\r\n\x1b[?1049l$ "),
    )
    assert [c.line for c in session_commands(vim)] == ["vi notes"]
    exec_ = records((0.0, Stream.MARKER, b"exec make test"), (0.5, OUT, b"ok\n"), pty=False)
    assert list(session_commands(exec_)) == [Command(0.0, "make test", "")]


def test_a_real_bash_session_gives_exactly_the_commands_run(setup: Setup) -> None:
    with ssh_session(setup) as tmux:
        run(tmux, "echo first-command", "first-command")
        tmux.type("echo helo")  # two backspaces, then the rest
        tmux.send("BSpace", "BSpace")
        tmux.type("llo-world\n")
        tmux.wait_for(lambda s: "\nhello-world" in s and at_prompt(s))
        tmux.type("cho arrows")  # the e forgotten, put in with the arrows
        tmux.send(*["Left"] * 10)
        tmux.type("e\n")
        tmux.wait_for(lambda s: "\narrows" in s and at_prompt(s))
        tmux.send("Up")  # history
        tmux.wait_for(lambda s: s.rstrip().endswith("$ echo arrows"))
        tmux.send("Enter")
        tmux.wait_for(lambda s: s.count("\narrows") == 2 and at_prompt(s))
        tmux.type("ls /etc/hostn")
        tmux.send("Tab")
        tmux.wait_for(lambda s: s.rstrip().endswith("/etc/hostname"))
        tmux.send("Enter")
        tmux.wait_for(lambda s: s.count("/etc/hostname") == 2 and at_prompt(s))
        tmux.type("PS1='inner# ' bash --norc -i\n")
        tmux.wait_for(lambda s: s.rstrip().endswith("inner#"))
        tmux.type("echo nested\n")
        tmux.wait_for(lambda s: "\nnested" in s and s.rstrip().endswith("inner#"))
        run(tmux, "exit", "exit")
        tmux.type("read -s -p 'Password: ' pw\n")
        tmux.wait_for(lambda s: s.rstrip().endswith("Password:"))
        tmux.type("s3cret-pass\n")
        tmux.wait_for(at_prompt)
        run(tmux, "echo done-now", "\ndone-now")
        end_session(tmux)
    session_id = wait_sessions(setup, "ended")[0]
    reader = RecordingReader(recording_path(setup, session_id))
    commands = list(session_commands(reader.records()))
    lines = [c.line for c in commands]
    assert lines[1:] == [
        "echo first-command",
        "echo hello-world",
        "echo arrows",
        "echo arrows",
        "ls /etc/hostname",
        "PS1='inner# ' bash --norc -i",
        "echo nested",
        "exit",
        "read -s -p 'Password: ' pw",
        "[input withheld]",  # the password: withheld from the recording
        "echo done-now",
        "exit",
    ]
    assert commands[10].context == "Password:"
    assert lines[0].startswith("export PS1=")  # the harness's own first line
    assert not any("s3cret" in c.line for c in commands)
    assert commands[7].context == "inner#" and commands[2].context == "$"
    assert [c.t for c in commands] == sorted(c.t for c in commands)

    # In the index, through the CLI: newest first, searchable, with the moment
    # (ID@T) that `replay` takes, where the screen shows the command typed.
    listed = json.loads(setup.cli.run("commands", "--json").stdout)
    assert [c["line"] for c in listed] == list(reversed(lines))
    assert {c["session_id"] for c in listed} == {session_id}
    found = json.loads(setup.cli.run("commands", "--search", "hello", "--json").stdout)
    assert [c["line"] for c in found] == ["echo hello-world"]
    table = setup.cli.run("commands", "--search", "arrows").stdout.splitlines()
    assert table[0].split() == ["TIME", "USER", "TARGET", "MOMENT", "COMMAND"]
    moment = parse_moment(table[1].split()[4])
    assert session_id.startswith(moment.session)
    assert moment.t is not None and abs(moment.t - commands[4].t) < 0.1  # the newer of the two
    playback = Playback(reader)
    playback.seek(moment.t)
    assert playback.terminal.text().splitlines()[-1].startswith("$ echo arrows")
    assert "s3cret" not in setup.cli.run("commands").stdout
