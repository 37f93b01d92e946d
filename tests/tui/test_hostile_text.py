"""What the audited side wrote is shown as data on every screen: never markup, never controls.

Each view is drawn for real (Pilot) and read back from the screen's
compositor: what would reach the auditor's terminal.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable

from auditor.textsafe import visible
from auditor.tui.app import AuditorApp
from auditor.tui.screens.commands_screen import CommandsScreen
from auditor.tui.screens.failures_screen import FailuresScreen
from auditor.tui.screens.replay_screen import ReplayScreen
from auditor.tui.screens.sessions_screen import SessionsScreen
from auditor.tui.screens.terminate_screen import TerminateScreen
from tests.tui.conftest import app_for, settle
from tests.tui.hostile import (
    DETAIL,
    EXEC,
    LIVE_USER,
    LOGIN,
    MESSAGE,
    NODE,
    PRINTED,
    PS1,
    TYPED,
    USER,
    Hostile,
    build_hostile,
)

SIZE = (220, 50)
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def drawn(app: AuditorApp) -> str:
    """The screen as it would be sent to the terminal, one line a row, text only."""
    lines = [strip.text for strip in app.screen._compositor.render_strips()]
    for y, line in enumerate(lines):
        assert not UNSAFE.search(line), f"row {y} carries a raw control: {line!r}"
    return "\n".join(lines)


def cells(table: DataTable[Any]) -> list[list[str]]:
    """Every cell must be Text (a str cell is read as markup), as plain text."""
    rows = []
    for row in table.ordered_rows:
        values = table.get_row(row.key)
        assert all(isinstance(v, Text) for v in values), values
        rows.append([v.plain for v in values])
    return rows


def hostile(tmp_path: Path) -> Hostile:
    return build_hostile(tmp_path / "home")


async def test_sessions_table_and_search_hits_show_what_was_typed(tmp_path: Path) -> None:
    h = hostile(tmp_path)
    app = app_for(h.data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        rows = {r[1]: r for r in cells(screen.session_table)}
        assert set(rows) == {USER, LIVE_USER}
        assert any(r[2] == f"{visible(LOGIN)}@{NODE}" for r in cells(screen.session_table))
        assert any(r[9] == visible(EXEC) for r in cells(screen.session_table))
        shown = drawn(app)
        assert f"{visible(LOGIN)}@{NODE}" in shown and LIVE_USER[:10] in shown
        assert visible(EXEC)[:20] in shown  # the column is 24 wide

        await pilot.press("slash", *"kumquat")
        await settle(pilot)
        match = [r[3] for r in cells(screen.session_table)]
        assert match == [f"$ {PRINTED}"]  # the screen line, prompt and all
        assert PRINTED in drawn(app)

        await pilot.press("escape", "slash", *"rm")  # found through the typed command
        await settle(pilot)
        assert [r[3] for r in cells(screen.session_table)] == [f"$ {TYPED}"]
        assert f"$ {TYPED}"[:38] in drawn(app)  # the column is 40 wide


async def test_replay_header_commands_and_hit_line(tmp_path: Path) -> None:
    h = hostile(tmp_path)
    app = app_for(h.data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        session = screen.session_table.sessions[h.shell]
        app.open_session(session, search="kumquat")
        await pilot.pause()
        replay = app.screen
        assert isinstance(replay, ReplayScreen)
        for _ in range(200):
            if replay.command_list.option_count and replay.hits:
                break
            await pilot.pause(0.05)
        await asyncio.wait_for(replay.until(lambda s: "kumquat" in s.terminal_view.text), 10)
        await pilot.pause()
        prompts = [
            str(replay.command_list.get_option_at_index(i).prompt)
            for i in range(replay.command_list.option_count)
        ]
        assert [p.lstrip().split(" ", 1)[1] for p in prompts] == [f"$ {TYPED}", f"$ {PS1}"]
        shown = drawn(app)
        assert f" {USER} {visible(LOGIN)}@{NODE} · " in shown
        assert TYPED in shown and PS1 in shown
        assert f"hit 1/1: $ {PRINTED}" in shown

        await pilot.press("escape")
        await pilot.pause()
        app.open_session(screen.session_table.sessions[h.exec])
        await pilot.pause()
        await pilot.pause()
        assert f"@{NODE} · 2025-06-15 15:01:40 · {visible(EXEC)} · ended" in drawn(app)


async def test_commands_view_draws_markup_as_typed(tmp_path: Path) -> None:
    h = hostile(tmp_path)
    app = app_for(h.data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, CommandsScreen)
        await settle(pilot)
        rows = cells(screen.table)
        assert [r[5] for r in rows] == [visible(EXEC), PS1, TYPED]
        assert {r[1] for r in rows} == {USER}
        assert {r[2] for r in rows} == {f"{visible(LOGIN)}@{NODE}"}
        shown = drawn(app)
        assert TYPED in shown and PS1 in shown and visible(EXEC) in shown
        assert f"{USER}  {visible(LOGIN)}@{NODE}" in shown


async def test_failures_table_and_detail(tmp_path: Path) -> None:
    h = hostile(tmp_path)
    app = app_for(h.data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        rows = cells(screen.failure_table)
        assert rows == [["2025-06-15 15:04:40", NODE, USER, "0", visible(MESSAGE)]]
        shown = drawn(app)
        assert f"login  {visible(LOGIN)}" in shown
        assert visible(MESSAGE) in shown
        assert f"HostKey /etc/ssh/{NODE}" in shown  # the remediation names the node
        screen.query_one("#detail-box").scroll_end(animate=False)
        await pilot.pause()
        assert visible(DETAIL) in drawn(app)


async def test_terminate_dialog_and_command_palette(tmp_path: Path) -> None:
    h = hostile(tmp_path)
    app = app_for(h.data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await settle(pilot)
        assert [s.id for s in app.live_sessions] == [h.live]
        await pilot.press("t")  # the live session is on top
        await pilot.pause()
        assert isinstance(app.screen, TerminateScreen)
        assert f"({LIVE_USER} {visible(LOGIN)}@{NODE})?" in drawn(app)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Follow")
        for _ in range(100):
            await pilot.pause(0.05)
            if "Follow newest live session" in drawn(app):
                break
        assert f"{LIVE_USER} {visible(LOGIN)}@{NODE}" in drawn(app)
        await pilot.press("enter")
        for _ in range(100):
            if isinstance(app.screen, ReplayScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, ReplayScreen) and app.screen.session.id == h.live


def test_snapshot_of_the_commands_view(snap_compare: Any, tmp_path: Path) -> None:
    """`[black on black]` and `\\[` as typed; the exec request's controls as marked escapes."""

    async def commands(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)

    app = app_for(hostile(tmp_path).data_dir, live_refresh=3600)
    assert snap_compare(app, terminal_size=(130, 20), run_before=commands)


def test_snapshot_of_a_failure(snap_compare: Any, tmp_path: Path) -> None:
    async def failures(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)

    app = app_for(hostile(tmp_path).data_dir, live_refresh=3600)
    assert snap_compare(app, terminal_size=(130, 40), run_before=failures)
