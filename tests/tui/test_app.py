"""The app as a whole: the proxy in its loop or attached, samples, help, palette, resize."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from textual.command import CommandPalette

from auditor.config import Config, HostPort
from auditor.tui.screens.failures_screen import FailuresScreen
from auditor.tui.screens.help_screen import HelpScreen
from auditor.tui.screens.replay_screen import ReplayScreen
from auditor.tui.screens.sessions_screen import SessionsScreen
from auditor.tui.widgets.status_bar import StatusBar
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import free_port
from tests.proxy.conftest import StartProxy
from tests.tui.conftest import app_for, settle
from tests.tui.world import World


def status(app: object) -> str:
    bar = app.screen.query_one(StatusBar)  # type: ignore[attr-defined]
    return str(bar.content)


async def test_full_collections_skip_the_startup_heap_while_the_app_runs(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        assert gc.get_freeze_count() > 10_000  # Textual, Rich, the stylesheet, the screens
    assert gc.get_freeze_count() == 0  # the collector has them back once the app has ended


async def test_the_app_runs_the_proxy_in_its_own_loop(tmp_path: Path) -> None:
    data_dir = tmp_path / "home"
    port = free_port()
    config = Config(listen_addr=HostPort("127.0.0.1", port))
    app = app_for(data_dir, run_proxy=True, config=config)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        assert app.proxy_state.mode == "running"
        assert f"proxy 127.0.0.1:{port} · recording: proxy" in status(app)
        state = json.loads((data_dir / "proxy.json").read_text())
        assert state["listen"] == f"127.0.0.1:{port}"
    assert not (data_dir / "proxy.json").exists()  # stopped with the app


async def test_the_app_attaches_to_a_running_auditor_proxy(
    ca: AuditorCli, start_proxy: StartProxy
) -> None:
    proxy = start_proxy()
    app = app_for(ca.data_dir, run_proxy=True)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        assert app.proxy_state.mode == "attached"
        assert app.link.proxy is None
        assert f"attached to auditor proxy (pid {proxy.proc.pid}) 127.0.0.1:{proxy.port}" in status(
            app
        )
    assert (ca.data_dir / "proxy.json").exists()  # the other proxy's, untouched


async def test_a_port_in_use_leaves_the_app_browsing(tmp_path: Path, world: World) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = Config(listen_addr=HostPort("127.0.0.1", taken.getsockname()[1]))
        app = app_for(world.data_dir, run_proxy=True, config=config)
        async with app.run_test(size=(140, 30)) as pilot:
            await settle(pilot)
            assert app.proxy_state.mode == "failed"
            assert "proxy not running: cannot listen on" in status(app)
            assert app.screen.session_table.row_count == 4  # type: ignore[attr-defined]


async def test_first_run_imports_the_samples_marked_as_samples(tmp_path: Path) -> None:
    data_dir = tmp_path / "home"
    app = app_for(data_dir, sample_dir=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        table = screen.session_table
        assert table.row_count >= 4
        marks = {str(table.get_cell(r.key, "mark")) for r in table.ordered_rows}
        assert marks == {"sample"}
        commands = [s.command or "" for s in table.sessions.values()]
        assert any("exit 3" in c for c in commands)
        await pilot.press("x")
        await settle(pilot)
        failures = app.screen
        assert isinstance(failures, FailuresScreen)
        assert {s.kind for s in failures.kind_table.summaries} >= {
            "maxstartups",
            "host_cert_missing",
        }
    again = app_for(data_dir, sample_dir=True)  # not imported twice
    async with again.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert again.session_total == app.session_total


async def test_help_lists_this_screens_keys(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(str(s.content) for s in app.screen.query("Static"))
        assert "sessions" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert isinstance(app.screen.under, ReplayScreen)


async def test_command_palette_switches_screens(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Failures")
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FailuresScreen)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)


async def test_resizing_keeps_everything_usable(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.resize_terminal(70, 16)
        await settle(pilot)
        assert app.screen.size == (70, 16)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReplayScreen)
        await pilot.resize_terminal(160, 50)
        await pilot.pause()
        await pilot.press("escape", "q")
        await pilot.pause()
    assert app.return_code == 0
