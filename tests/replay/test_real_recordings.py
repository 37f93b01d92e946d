"""The emulator against real recordings: vim, less and a coloured ls, run in
a real terminal through the recording proxy against sshd."""

from __future__ import annotations

import time
from pathlib import Path

from auditor.recording import RecordingReader
from auditor.replay.emulator import Cell, Terminal
from auditor.replay.keyframes import apply, sidecar_path
from auditor.replay.recorded import recording_keyframes, recording_source
from tests.proxy.conftest import Setup
from tests.replay.sessions import (
    end_session,
    need,
    record_vim,
    recording_path,
    run,
    ssh_session,
    wait_sessions,
)


def screens(path: Path) -> list[tuple[float, bool, str]]:
    """(time, on the alternate screen, screen text) after every record."""
    terminal = Terminal()
    out = []
    for t, kind, data in recording_source(RecordingReader(path))(0.0):
        apply(terminal, kind, data)
        out.append((t, terminal.in_alternate_screen, terminal.text()))
    return out


def test_vim_replays_on_the_alternate_screen_and_the_shell_comes_back(
    setup: Setup, tmp_path: Path
) -> None:
    session_id = record_vim(setup, tmp_path)
    path = recording_path(setup, session_id)
    shown = screens(path)

    in_vim = [(t, text) for t, alt, text in shown if alt and "Hello from vim" in text]
    assert in_vim, "vim's screen never showed the typed text"
    t_vim, vim_screen = in_vim[-1]
    assert vim_screen.count("\n~") >= 10  # vim's empty-line markers fill the screen
    assert "before-vim" not in vim_screen

    _, alt, final = shown[-1]
    assert not alt
    lines = final.splitlines()
    assert "before-vim" in final and "after-vim" in final
    assert lines.index("before-vim") < lines.index("after-vim")
    assert "Hello from vim" not in final and "~" not in final

    # Seeking through the keyframes lands on vim's screen, then the shell's.
    index = recording_keyframes(path, every_bytes=256)
    assert len(index.keyframes) > 3
    source = recording_source(RecordingReader(path))
    at_vim = index.seek(t_vim, source)
    assert at_vim.in_alternate_screen and at_vim.text() == vim_screen
    assert index.seek(shown[-1][0], source).text() == final


def test_keyframes_are_built_in_the_background_when_a_session_ends(
    setup: Setup, tmp_path: Path
) -> None:
    session_id = record_vim(setup, tmp_path)
    sidecar = sidecar_path(recording_path(setup, session_id))
    deadline = time.monotonic() + 15
    while not sidecar.exists():
        assert time.monotonic() < deadline, f"no keyframes for {session_id}: {setup.proxy.log()}"
        time.sleep(0.1)


def test_text_transcript_of_vim_shows_its_final_screen_in_order(
    setup: Setup, tmp_path: Path
) -> None:
    session_id = record_vim(setup, tmp_path)
    text = setup.cli.run("replay", session_id[:10], "--format", "text").stdout
    lines = text.splitlines()
    assert "\x1b" not in text
    before = lines.index("before-vim")
    vim = next((i for i, line in enumerate(lines) if line.startswith("Hello from vim")), None)
    assert vim is not None, text
    after = lines.index("after-vim")
    assert before < vim < after
    assert lines[vim + 1] == "~"  # the final screen, as vim left it


def test_less_pages_and_a_coloured_ls_replay_as_shown(setup: Setup, tmp_path: Path) -> None:
    need("less", "less")
    listing = tmp_path / "listing"
    (listing / "somedir").mkdir(parents=True)
    (listing / "plain.txt").write_text("x")
    (listing / "run.sh").write_text("#!/bin/sh\n")
    (listing / "run.sh").chmod(0o755)
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("".join(f"row {i}\n" for i in range(1, 201)))
    with ssh_session(setup) as tmux:
        run(tmux, f"ls --color=always {listing}", "somedir")
        tmux.type(f"less {numbers}\n")
        tmux.wait_for("row 23")
        tmux.type(" ")
        tmux.wait_for("row 45")
        tmux.type("q")
        tmux.wait_for(lambda s: "row 45" not in s and s.rstrip().endswith("$"))
        run(tmux, "echo after-less", "after-less")
        end_session(tmux)
    path = recording_path(setup, wait_sessions(setup, "ended")[0])

    terminal = Terminal()
    paged = []
    for t, kind, data in recording_source(RecordingReader(path))(0.0):
        apply(terminal, kind, data)
        text = terminal.text()
        if terminal.in_alternate_screen and "row 45" in text:
            paged.append((t, text))
    assert paged, "less's second page never showed"
    assert "row 1\n" not in paged[-1][1]  # paged on: the first rows are gone

    final = terminal.text()
    assert not terminal.in_alternate_screen
    assert "row 45" not in final and "after-less" in final
    # ls's colours: a bold blue directory, a bold green executable, a plain file.
    y = next(i for i, line in enumerate(terminal.lines) if "somedir" in line)
    row = terminal.row(y)
    line = terminal.lines[y]

    def cell(name: str) -> Cell:
        return row[line.index(name)]

    assert (cell("somedir").fg, cell("somedir").bold) == ("blue", True)
    assert (cell("run.sh").fg, cell("run.sh").bold) == ("green", True)
    assert cell("plain.txt").fg == "default"
