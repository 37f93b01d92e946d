"""Snapshots of every screen (pytest-textual-snapshot): fixed ids, clock, timezone and size.

Regenerate after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from auditor.replay.playback import SeekTo
from auditor.tui.screens.replay_screen import ReplayScreen
from tests.tui.conftest import app_for, settle
from tests.tui.world import build_world

SIZE = (130, 36)


def world_app(tmp_path: Path) -> Any:
    world = build_world(tmp_path / "home")
    return app_for(world.data_dir, live_refresh=3600)


def test_sessions_screen(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(world_app(tmp_path), terminal_size=SIZE, run_before=settle)


def test_sessions_search(snap_compare: Any, tmp_path: Path) -> None:
    async def search(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("slash", *"secret", "enter")
        await settle(pilot)

    assert snap_compare(world_app(tmp_path), terminal_size=SIZE, run_before=search)


def test_replay_vim_on_the_alternate_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def replay(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, ReplayScreen)
        screen.command(SeekTo(1.0))
        await asyncio.wait_for(screen.until(lambda s: "INSERT" in s.terminal_view.text), 10)
        # The session's commands are listed beside the terminal (none, for this vim).
        for _ in range(200):
            if screen.command_list.option_count:
                break
            await pilot.pause(0.05)
        await pilot.pause()

    assert snap_compare(world_app(tmp_path), terminal_size=SIZE, run_before=replay)


def test_failures_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def failures(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)

    assert snap_compare(world_app(tmp_path), terminal_size=SIZE, run_before=failures)


def test_help_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def help_(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(world_app(tmp_path), terminal_size=SIZE, run_before=help_)
