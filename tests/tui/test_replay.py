"""The replay screen: the emulated terminal, timeline, keys, search hits, live follow."""

from __future__ import annotations

import asyncio
from pathlib import Path

from auditor.index import SessionIndex
from auditor.recording import RecordingWriter, Stream, encode_resize
from auditor.replay.playback import SeekTo
from auditor.tui.app import AuditorApp
from auditor.tui.samples import bundled_samples, import_samples
from auditor.tui.screens.replay_screen import ReplayScreen
from auditor.tui.widgets.timeline import Timeline
from tests.tui.conftest import app_for, settle
from tests.tui.world import NOW, World

TIMEOUT = 10


async def open_replay(app: AuditorApp, session_id: str, search: str | None = None) -> ReplayScreen:
    session = await app.reader(lambda index: index.get_session(session_id))
    app.open_session(session, search=search)
    screen = app.screen
    assert isinstance(screen, ReplayScreen)
    await asyncio.wait_for(screen.until(lambda s: s.frames > 0), TIMEOUT)
    return screen


async def until(screen: ReplayScreen, check: object) -> None:
    await asyncio.wait_for(screen.until(check), TIMEOUT)  # type: ignore[arg-type]


async def test_terminal_at_the_recordings_size_with_its_colours(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, world.shell)
        view = screen.terminal_view
        assert (view.cols, view.rows) == (60, 12)
        assert (view.size.width, view.size.height) == (60, 12)  # inside its border
        await pilot.press("end")
        await until(screen, lambda s: "secret-token-42" in s.terminal_view.text)
        first = view.strips[0]
        styles = {seg.text: seg.style for seg in first}
        assert "joe@web1" in styles
        assert styles["joe@web1"] is not None and styles["joe@web1"].bold
        assert str(styles["joe@web1"].color.name) == "green"


async def test_play_pause_step_seek_and_speed(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, world.shell)
        assert not screen.state.playing
        await pilot.press("full_stop")  # one write on
        await until(screen, lambda s: "joe@web1" in s.terminal_view.text)
        await pilot.press("full_stop")
        await until(screen, lambda s: "notes.txt" in s.terminal_view.text)
        assert abs(screen.state.position - 1.1) < 1e-6
        await pilot.press("comma")
        await until(screen, lambda s: "notes.txt" not in s.terminal_view.text)
        await pilot.press("plus", "plus", "plus")
        assert screen.state.speed == 8.0
        await pilot.press("minus")
        assert screen.state.speed == 4.0
        await pilot.press("space")
        await until(screen, lambda s: s.state.playing)
        await until(screen, lambda s: not s.state.playing)  # ran to the end
        assert screen.state.position == screen.state.duration
        assert "secret-token-42" in screen.terminal_view.text
        await pilot.press("home")
        await until(screen, lambda s: s.state.position == 0.0)
        await pilot.press("right")
        await until(screen, lambda s: s.state.position == 5.0)
        assert "secret-token-42" in screen.terminal_view.text
        await pilot.press("left")
        await until(screen, lambda s: s.state.position == 0.0)


async def test_clicking_the_timeline_seeks(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, world.shell)
        timeline = screen.timeline
        start, width = timeline._bar_span()
        await pilot.click(Timeline, offset=(start + width - 1, 0))
        await until(screen, lambda s: s.state.position == s.state.duration)
        assert "secret-token-42" in screen.terminal_view.text


async def test_vim_on_the_alternate_screen_and_back(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, world.vim)
        screen.command(SeekTo(1.0))
        await until(screen, lambda s: "hello from vim" in s.terminal_view.text)
        assert "-- INSERT --" in screen.terminal_view.text
        assert "$ vim notes.txt" not in screen.terminal_view.text
        screen.command(SeekTo(2.5))
        await until(screen, lambda s: "$ vim notes.txt" in s.terminal_view.text)
        assert "hello from vim" not in screen.terminal_view.text


async def test_search_hits_jump_next_and_previous(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, world.shell, search="web1")
        await until(screen, lambda s: s.state.hits != ())
        await until(screen, lambda s: "web1" in s.terminal_view.text)
        assert "hit 1/" in str(screen.hit_line.content)
        first = screen.state.position
        hits = len(screen.hits)
        await pilot.press("N")  # wraps to the last
        assert f"hit {hits}/{hits}" in str(screen.hit_line.content)
        await until(screen, lambda s: "web1.example.com" in s.terminal_view.text)
        assert screen.state.position >= first
        await pilot.press("slash", *"secret", "enter")
        await until(screen, lambda s: "secret-token-42" in s.terminal_view.text)
        assert screen.search == "secret"


async def test_following_a_live_session_shows_new_output_as_it_happens(world: World) -> None:
    session_id = "e5" * 16
    with SessionIndex.open(world.data_dir) as index:
        path = index.recording_path(session_id)
        writer = RecordingWriter.create(path, {"session_id": session_id, "start": NOW})
        writer.append(Stream.RESIZE, encode_resize(50, 10), 0.0)
        writer.append(Stream.OUTPUT, b"$ tail -f app.log\r\n", 0.1)
        writer.flush()
        index.start_session(
            session_id,
            user="ann",
            login="ann",
            node="web1.example.com",
            start=NOW,
            recording_path=str(path),
        )
    app = app_for(world.data_dir)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            screen = await open_replay(app, session_id)
            assert screen.state.following
            await until(screen, lambda s: "tail -f app.log" in s.terminal_view.text)
            writer.append(Stream.OUTPUT, b"request 1 served\r\n", 0.5)
            writer.flush()
            await until(screen, lambda s: "request 1 served" in s.terminal_view.text)
            await pilot.press("f")  # stop following: new output waits
            await until(screen, lambda s: not s.state.following)
            writer.append(Stream.OUTPUT, b"request 2 served\r\n", 0.9)
            writer.flush()
            await pilot.press("f")
            await until(screen, lambda s: "request 2 served" in s.terminal_view.text)
            assert screen.state.position >= 0.9
    finally:
        writer.close()


async def test_a_missing_recording_is_a_message_not_a_crash(world: World) -> None:
    with SessionIndex.open(world.data_dir) as index:
        index.recording_path(world.failed).unlink()
    app = app_for(world.data_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        session = await app.reader(lambda index: index.get_session(world.failed))
        app.open_session(session)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "recording file not found" in str(screen.hit_line.content)


async def test_the_sessions_commands_beside_the_terminal_and_enter_jumps(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, world.shell)
        commands = screen.command_list
        for _ in range(100):
            if commands.commands:
                break
            await pilot.pause(0.05)
        assert [(c.line, c.context) for c in commands.commands] == [("ls --color", "joe@web1:~$")]
        await pilot.press("right")  # a playback key while the list is not focused
        await until(screen, lambda s: s.state.position == 5.0)
        await pilot.press("c", "enter")
        await until(screen, lambda s: s.state.position == 1.0)
        assert app.focused is None  # back to playback keys
        await pilot.press("full_stop")
        await until(screen, lambda s: "notes.txt" in s.terminal_view.text)


async def test_a_hit_in_vim_shows_its_line_and_is_marked_at_its_time(tmp_path: Path) -> None:
    """The bundled shell sample: a word typed in vim is a hit at 0:02 of 0:07, on the
    hit line as the row vim showed (not vim's `~` rows), on the timeline where it is."""
    source = bundled_samples()
    assert source is not None
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    with SessionIndex.open(data_dir) as index:
        import_samples(index, source)
    app = app_for(data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = await open_replay(app, "e2458f9d9f1f494cb14c1304bcc6621d", search="rollback")
        await until(screen, lambda s: s.state.hits != ())
        await until(screen, lambda s: "rollback plan" in s.terminal_view.text)
        assert str(screen.hit_line.content) == (
            " hit 1/1: rollback plan: restore the previous release"
        )
        [t] = screen.state.hits
        assert abs(t - 2.228) < 0.01
        assert 2.2 <= screen.state.position < 3.0  # the replay went to the hit's time
        await pilot.press("home")
        await until(screen, lambda s: s.state.position == 0.0)
        await pilot.pause()
        start, width = screen.timeline._bar_span()
        bar = screen.timeline.render().plain
        assert bar.index("◆") - start == int(t / screen.state.duration * width) > 0
