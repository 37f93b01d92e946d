"""Issue 24 in the app: the moment's reference and `y`, reviews (key, modal, column,
filter), who viewed a session, the transcript beside the replay, `auditor ID@T`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from textual.widgets import Input, Static

from auditor.index import SessionIndex
from auditor.index.marks import Review
from auditor.index.owner import os_user
from auditor.replay.playback import SeekTo
from auditor.tui.screens.replay_screen import ReplayScreen
from auditor.tui.screens.review_screen import ReviewScreen
from auditor.tui.screens.sessions_screen import SessionsScreen
from tests.tui.conftest import app_for, settle
from tests.tui.test_replay import TIMEOUT, open_replay, until
from tests.tui.world import World

ME = os_user()


def views(data_dir: Path, sid: str) -> list[tuple[str, str]]:
    with SessionIndex.open(data_dir) as index:
        return [(v.viewer, v.what) for v in index.views([sid]).get(sid, [])]


def viewed_lines(data_dir: Path) -> list[dict[str, object]]:
    path = data_dir / "audit.log"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line["event"] == "session_viewed"]


async def test_y_copies_the_moment_and_shows_it(world: World) -> None:
    app = app_for(world.data_dir)
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=(130, 36)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, world.shell)
        screen.command(SeekTo(3.04))
        await until(screen, lambda s: abs(s.state.position - 3.04) < 1e-6)
        assert screen.state.moment == f"{world.shell[:8]}@0:03.0"
        assert f"{world.shell[:8]}@0:03.0" in str(screen.timeline.render())
        await pilot.press("y")
        await pilot.pause()
        assert copied == [f"{world.shell[:8]}@0:03.0"]
        shown = [n.message for n in app._notifications]
        assert f"copied {world.shell[:8]}@0:03.0" in shown
    # Opening the replay was a view.
    assert views(world.data_dir, world.shell) == [(ME, "replay")]
    (line,) = viewed_lines(world.data_dir)
    assert (line["viewer"], line["session"], line["what"]) == (ME, world.shell, "replay")


async def test_copy_to_clipboard_is_osc_52(world: World) -> None:
    """What `y` calls writes OSC 52 to the terminal (Textual's driver does it)."""
    app = app_for(world.data_dir)
    written: list[str] = []
    async with app.run_test(size=(130, 36)) as pilot:
        await settle(pilot)
        driver = app._driver
        assert driver is not None
        original = driver.write
        driver.write = lambda data: (written.append(data), original(data))[1]  # type: ignore[method-assign]
        screen = await open_replay(app, world.shell)
        await pilot.press("y")
        await pilot.pause()
        assert screen.moment == f"{world.shell[:8]}@0:00.0"
    import base64

    osc = [w for w in written if w.startswith("\x1b]52;c;")]
    assert osc and base64.b64decode(osc[0][7:].rstrip("\a")) == f"{world.shell[:8]}@0:00.0".encode()


async def test_review_from_the_replay_and_the_sessions_screen(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 36)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, world.shell)
        screen.command(SeekTo(3.0))
        await until(screen, lambda s: s.state.position == 3.0)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press(*"[bold]looked fine", "enter")

        def reviews_of(sid: str) -> list[Review]:
            with SessionIndex.open(world.data_dir) as index:
                return index.reviews([sid]).get(sid, [])

        await until_loaded(pilot, lambda: reviews_of(world.shell))
        (review,) = reviews_of(world.shell)
        assert (review.reviewer, review.note, review.t) == (ME, "[bold]looked fine", 3.0)

        await pilot.press("escape")
        await pilot.pause()
        sessions = app.screen
        assert isinstance(sessions, SessionsScreen)
        table = sessions.session_table
        await until_loaded(pilot, lambda: world.shell in table.reviewers)
        assert table.get_cell(world.shell, "reviewed").plain == f"✓ {ME}"
        assert table.get_cell(world.vim, "reviewed").plain == ""

        # m on the sessions screen: the highlighted row, a note, cancel leaves it alone.
        table.move_cursor(row=table.get_row_index(world.vim))
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        await pilot.press(*"ok", "enter")
        await until_loaded(pilot, lambda: world.vim in table.reviewers)
        assert table.get_cell(world.vim, "reviewed").plain == f"✓ {ME}"

        # The filter: reviewed:no, reviewed:USER.
        filter_box = sessions.query_one("#filter", Input)
        filter_box.value = "reviewed:no"
        await until_loaded(pilot, lambda: world.shell not in table.sessions)
        assert set(table.sessions) == {world.failed, world.live}
        filter_box.value = f"reviewed:{ME}"
        await until_loaded(pilot, lambda: world.failed not in table.sessions)
        assert set(table.sessions) == {world.shell, world.vim}
        filter_box.value = "reviewed:nobody"
        await until_loaded(pilot, lambda: not table.sessions)

        # Details: who has viewed the highlighted session.
        filter_box.value = ""
        await until_loaded(pilot, lambda: world.failed in table.sessions)
        table.focus()
        table.move_cursor(row=table.get_row_index(world.shell))
        details = sessions.query_one("#session-details", Static)
        await until_loaded(pilot, lambda: "viewed by" in str(details.render()))
        shown = str(details.render())
        assert f"{ME} (review)" in shown and f"{ME} (replay)" in shown
    with SessionIndex.open(world.data_dir) as index:
        assert [r.note for r in index.reviews([world.vim])[world.vim]] == ["ok"]
    assert ("review", world.vim) in [
        (line["what"], line["session"]) for line in viewed_lines(world.data_dir)
    ]


async def until_loaded(pilot: object, check: object) -> None:
    for _ in range(200):
        await pilot.pause(0.05)  # type: ignore[attr-defined]
        if check():  # type: ignore[operator]
            return
    raise AssertionError("never happened")


async def test_the_transcript_follows_and_jumps(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 36)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, world.shell)
        panel = screen.transcript
        assert not panel.display
        await pilot.press("t")
        await until(screen, lambda s: len(s.transcript.lines) == 6)
        assert panel.display and panel.has_focus
        assert [line for _, line in panel.lines] == [
            "joe@web1:~$ ls --color",
            "bin  core  notes.txt",
            "joe@web1:~$ cat /etc/hostname",
            "web1.example.com",
            "joe@web1:~$ echo secret-token-42",
            "secret-token-42",
        ]
        screen.command(SeekTo(4.5))
        await until(screen, lambda s: s.state.position == 4.5)
        await pilot.pause()
        assert panel.highlighted == 3  # web1.example.com, printed at 3.0
        # Choose a line: the replay jumps to when it stood on the screen.
        await pilot.press("home", "enter")
        await until(screen, lambda s: abs(s.state.position - 1.1) < 1e-6)
        assert "notes.txt" in screen.terminal_view.text
        assert "web1.example.com" not in screen.terminal_view.text
        assert panel.highlighted == 0
        # t again hides it.
        await pilot.press("escape")
        await pilot.press("t")
        await pilot.pause()
        assert not panel.display


async def test_transcript_lines_are_data_never_markup(tmp_path: Path) -> None:
    from tests.tui.world import build_world, write_recording

    world = build_world(tmp_path / "home", live=False)
    sid = "e5" * 16
    from auditor.recording import Stream, encode_resize

    with SessionIndex.open(world.data_dir) as index:
        path = write_recording(
            index,
            sid,
            [
                (0.0, Stream.RESIZE, encode_resize(60, 12)),
                (0.5, Stream.OUTPUT, b"[red]not red[/red] [link=x]y[/link]\r\n"),
            ],
        )
        index.start_session(
            sid, user="joe", kind="session", start=world_start(), recording_path=str(path)
        )
        index.end_session(sid, end=world_start() + 1)
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 36)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, sid)
        await pilot.press("t")
        await until(screen, lambda s: len(s.transcript.lines) == 1)
        option = screen.transcript.get_option_at_index(0)
        assert str(option.prompt) == "[red]not red[/red] [link=x]y[/link]"


def world_start() -> float:
    from tests.tui.world import NOW

    return NOW - 100


async def test_opening_at_a_moment(world: World) -> None:
    """`auditor ID@T`: the app opens that replay at T (cli/open_app.py resolves the moment)."""
    with SessionIndex.open(world.data_dir) as index:
        session = index.get_session(world.shell[:6])
    app = app_for(world.data_dir, opening=(session, 3.5))
    async with app.run_test(size=(130, 36)) as pilot:
        await until_loaded(pilot, lambda: isinstance(app.screen, ReplayScreen))
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        await asyncio.wait_for(screen.until(lambda s: s.state.position == 3.5), TIMEOUT)
        assert "web1.example.com" in screen.terminal_view.text
        assert "secret-token-42" not in screen.terminal_view.text
        assert f"{world.shell[:8]}@0:03.5" in str(screen.timeline.render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)


async def test_following_a_live_session_in_the_app_is_a_view(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(130, 36)) as pilot:
        await settle(pilot)
        await open_replay(app, world.live)
        await until_loaded(pilot, lambda: views(world.data_dir, world.live))
    assert views(world.data_dir, world.live) == [(ME, "follow")]
    (line,) = viewed_lines(world.data_dir)
    assert (line["what"], line["session"]) == ("follow", world.live)
