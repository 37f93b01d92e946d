"""The sessions screen: live on top and updating, past below, filter, search, paging."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Input

from auditor.index import SessionIndex
from auditor.index.owner import os_user
from auditor.recording import RecordingWriter, Stream
from auditor.tui.screens.commands_screen import CommandsScreen
from auditor.tui.screens.replay_screen import ReplayScreen
from auditor.tui.screens.sessions_screen import SessionsScreen
from auditor.tui.screens.terminate_screen import TerminateScreen
from auditor.tui.widgets.session_table import SessionTable
from auditor.upkeep.command_extraction import extract_pending_commands
from auditor.upkeep.text_extraction import insert_ended_with_text
from tests.tui.conftest import Clock, app_for, settle
from tests.tui.world import NOW, World


def column(screen: SessionsScreen, key: str) -> list[str]:
    table = screen.session_table
    return [str(table.get_cell(row.key, key)) for row in table.ordered_rows]


async def test_live_sessions_on_top_marked_then_past_newest_first(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        table = screen.session_table
        assert [r.key.value for r in table.ordered_rows] == [
            world.live,
            world.failed,
            world.vim,
            world.shell,
        ]
        assert column(screen, "mark")[0] == "● LIVE"
        assert column(screen, "target")[1] == "deploy@web2.example.com"
        assert column(screen, "status") == ["live", "ended", "ended", "ended"]
        assert column(screen, "exit")[1] == "2"
        assert column(screen, "command")[1] == "make deploy"
        assert column(screen, "duration")[0] == "1:30"  # live for 90 s on the fixed clock


async def test_a_command_with_brackets_is_drawn_as_typed(world: World) -> None:
    command = "echo [red]hi [/] [/]"  # Rich markup would eat the tags, then fail on the last
    with SessionIndex.open(world.data_dir) as index:
        index.start_session(
            "e5" * 16, user="[b]eve", login="root", node="web1.example.com", command=command
        )
        index.end_session("e5" * 16, exit_status=0)
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(SessionTable)
        drawn = [table.render_line(y).text for y in range(table.size.height)]
        row = next(line for line in drawn if "[b]eve" in line)
        assert command in row


async def until(pilot: Pilot[None], check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the app did not update by itself"
        await pilot.pause(0.05)


async def test_live_rows_update_and_end_without_user_action(world: World) -> None:
    clock = Clock()
    app = app_for(world.data_dir, clock, live_refresh=0.05)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        with SessionIndex.open(world.data_dir) as index:
            index.update_session(world.live, bytes_out=5 * 1024 * 1024)
        clock.now = NOW + 60
        # No key pressed: the app's own refresh timer (every 0.05 s here) brings it in.
        await until(pilot, lambda: column(screen, "out")[0] == "5.0M")
        assert column(screen, "duration")[0] == "2:30"
        with SessionIndex.open(world.data_dir) as index:
            index.end_session(world.live, exit_status=0)
        await until(pilot, lambda: app.live_count == 0)
        await settle(pilot)
        assert "live" not in column(screen, "status")
        assert app.live_count == 0


async def test_filter_by_user_node_and_status(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        await pilot.press("f")
        assert screen.filter_input.has_focus
        await pilot.press(*"user:ann")
        await settle(pilot)
        assert column(screen, "user") == ["ann", "ann"]
        screen.filter_input.value = "node:web1.example.com status:ended"
        await settle(pilot)
        assert [r.key.value for r in screen.session_table.ordered_rows] == [world.shell]
        screen.filter_input.value = "colour:blue"
        await settle(pilot)
        assert "expected user:NAME" in str(screen.message.content)
        assert screen.filter_input.has_class("-invalid")
        await pilot.press("escape")
        await settle(pilot)
        assert screen.session_table.row_count == 4


async def test_search_finds_what_a_session_printed_and_shows_the_line(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        await pilot.press("slash")
        assert screen.search_input.has_focus
        await pilot.press(*"secret-token")
        await settle(pilot)
        table = screen.session_table
        assert [r.key.value for r in table.ordered_rows] == [world.shell]
        assert "secret-token-42" in column(screen, "match")[0]
        await pilot.press("enter")  # from the search box to the table
        assert table.has_focus
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReplayScreen)
        assert app.screen.search == "secret-token"


async def test_enter_replays_and_escape_comes_back(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ReplayScreen)
        assert app.screen.session.id == world.failed
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)


async def test_scrolling_down_pages_in_older_sessions(world: World) -> None:
    with SessionIndex.open(world.data_dir) as index, index.transaction():
        for i in range(450):
            index.conn.execute(
                "INSERT INTO sessions (id, start, end, status, user, node, text_done) "
                "VALUES (?, ?, ?, 'ended', 'bulk', 'bulk.example.com', 1)",
                [f"{i:032x}", NOW - 10_000 - i, NOW - 9_000 - i],
            )
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        table = screen.session_table
        assert table.row_count == 201  # the live one and a page of 200
        await pilot.press("end")
        await settle(pilot)
        assert table.row_count == 401
        await pilot.press("end")
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)
        assert table.row_count == 454
        assert not table.more


async def test_t_on_a_live_session_asks_then_records_who_terminated_it_and_why(
    world: World,
) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        assert screen.session_table.selected_id == world.live
        await pilot.press("t")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TerminateScreen)
        assert world.live[:8] in str(dialog.query_one("#terminate-box Static").content)
        await pilot.press("escape")  # no: nothing is asked of the proxy
        await settle(pilot)
        assert app.screen is screen
        with SessionIndex.open(world.data_dir) as index:
            assert index.get_session(world.live).terminated_by is None

        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TerminateScreen)
        await pilot.press(*"tailing secrets", "enter")
        await settle(pilot)
        assert app.screen is screen
        assert "ends it within a second" in str(screen.message.content)
        with SessionIndex.open(world.data_dir) as index:
            row = index.get_session(world.live)
        assert row.live  # until the proxy carrying it acts (tests/proxy/test_terminate.py)
        assert (row.terminated_by, row.termination_reason) == (os_user(), "tailing secrets")


async def test_t_on_a_past_session_says_only_live_ones_end(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        await pilot.press("down", "t")
        await pilot.pause()
        assert app.screen is screen
        assert "is not live" in str(screen.message.content)


async def test_search_finds_commands_too_and_marks_them(world: World) -> None:
    """An exec session printed nothing of its command: found through the commands."""
    with SessionIndex.open(world.data_dir) as index:
        sid = index.new_session_id()
        path = index.recording_path(sid)
        with RecordingWriter.create(path, {"session_id": sid}) as w:
            w.append(Stream.MARKER, b"exec systemctl restart nginx", 0.0)
            w.append(Stream.OUTPUT, b"done\n", 0.5)
        insert_ended_with_text(
            index,
            sid,
            start=NOW - 60,
            end=NOW - 59,
            user="ann",
            login="root",
            node="web1.example.com",
            command="systemctl restart nginx",
            recording_path=str(path),
        )
        extract_pending_commands(index)
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        await pilot.press("slash", *"nginx")
        await settle(pilot)
        assert [r.key.value for r in screen.session_table.ordered_rows] == [sid]
        assert column(screen, "match")[0].startswith("$ systemctl restart")
        await pilot.press("escape")
        await pilot.press("slash", *"secret-token")
        await settle(pilot)
        assert not column(screen, "match")[0].startswith("$ ")  # from the output


async def test_the_commands_view_filters_searches_and_replays_from_one(world: World) -> None:
    with SessionIndex.open(world.data_dir) as index:
        extract_pending_commands(index)  # the world's shell typed `ls --color`
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, CommandsScreen)
        await settle(pilot)
        assert [c.line for c in screen.rows] == ["ls --color"]
        screen.query_one("#commands-filter", Input).value = "user:nobody"
        await settle(pilot)
        assert screen.rows == []
        screen.query_one("#commands-filter", Input).value = "user:joe since:"
        await settle(pilot)
        assert "expected user:NAME" in str(screen.message.content)
        screen.query_one("#commands-filter", Input).value = "user:joe"
        screen.query_one("#commands-search", Input).value = "colo*"
        await settle(pilot)
        assert [c.user for c in screen.rows] == ["joe"]
        screen.table.focus()
        await pilot.press("enter")
        for _ in range(100):
            if isinstance(app.screen, ReplayScreen):
                break
            await pilot.pause(0.05)
        replay = app.screen
        assert isinstance(replay, ReplayScreen)
        # Where it was typed.
        await asyncio.wait_for(replay.until(lambda s: s.state.position == 1.0), 10)
