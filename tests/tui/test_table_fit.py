"""Tables that can be trusted: whole cells while there is room, `…` where a cell is cut,
bytes in and out as two named columns, the same in the CLI and the app (issue 21)."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import DataTable

from auditor.index import FailureKind, SessionIndex
from auditor.tui.screens.failures_screen import FailuresScreen
from auditor.tui.screens.replay_screen import ReplayScreen
from auditor.tui.screens.sessions_screen import SessionsScreen
from auditor.tui.widgets.session_table import SessionTable
from tests.harness.auditor_cli import AuditorCli
from tests.tui.conftest import app_for, settle
from tests.tui.world import NOW, World

NODE = "node.example.com:2222"
MESSAGE = "node.example.com:2222 unreachable: connection refused (is sshd listening there?)"


def rendered_rows(table: DataTable[object]) -> list[str]:
    """What the table draws, line by line (the header first)."""
    return [
        "".join(seg.text for seg in table.render_line(y)).rstrip()
        for y in range(table.scrollable_content_region.height)
    ]


def add_unreachable(world: World) -> None:
    with SessionIndex.open(world.data_dir) as index:
        index.record_failure(
            FailureKind.NODE_UNREACHABLE,
            MESSAGE,
            time=NOW - 60,
            node="node.example.com",
            port=2222,
            user="joe",
            login="joe",
        )
        # A 5 MiB upload, to a node on a port whose digits a cut would hide.
        index.update_session(
            world.shell, bytes_in=5 * 1024 * 1024, node="node.example.com", port=2222
        )


async def open_unreachable(pilot: Pilot[None]) -> FailuresScreen:
    await settle(pilot)
    await pilot.press("x")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, FailuresScreen)
    kinds = [s.kind for s in screen.kind_table.summaries]
    for _ in range(kinds.index(FailureKind.NODE_UNREACHABLE.value)):
        await pilot.press("down")
    await settle(pilot)
    assert screen.kind == FailureKind.NODE_UNREACHABLE.value
    await pilot.pause()
    return screen


async def test_a_wide_failures_table_shows_node_port_and_message_whole(world: World) -> None:
    add_unreachable(world)
    app = app_for(world.data_dir)
    async with app.run_test(size=(260, 40)) as pilot:
        screen = await open_unreachable(pilot)
        table = screen.failure_table
        row = rendered_rows(table)[1]
        assert NODE in row and MESSAGE in row and "…" not in row
        assert not table.show_horizontal_scrollbar  # no scrollbar that is not needed
        kinds = rendered_rows(screen.kind_table)
        assert any("2025-06-15 15:04:40" in line for line in kinds)  # `last` whole
        assert not screen.kind_table.show_horizontal_scrollbar


async def test_a_narrow_failures_table_ends_cut_cells_in_an_ellipsis(world: World) -> None:
    add_unreachable(world)
    app = app_for(world.data_dir)
    async with app.run_test(size=(130, 40)) as pilot:
        screen = await open_unreachable(pilot)
        table = screen.failure_table
        row = rendered_rows(table)[1]
        assert NODE in row  # the message gives way first: the port stays whole
        assert row.endswith("…") and MESSAGE not in row
        assert not table.show_horizontal_scrollbar


async def test_sessions_table_whole_when_wide_and_cut_with_ellipsis_when_narrow(
    world: World,
) -> None:
    add_unreachable(world)
    app = app_for(world.data_dir)
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(SessionTable)
        assert any(f"joe@{NODE}" in line for line in rendered_rows(table))
        assert not table.show_horizontal_scrollbar
        await pilot.resize_terminal(70, 30)
        await settle(pilot)
        await pilot.pause()
        lines = rendered_rows(table)
        # Too narrow for every column even cut (it scrolls sideways): cut cells say so.
        assert any("…" in line for line in lines[1:])
        # Whatever is cut says so: no target ends in a port that is not there.
        for line in lines[1:]:
            assert ":222 " not in line and not line.endswith(":222")


async def test_cli_and_app_show_the_same_bytes_in_and_out(world: World) -> None:
    add_unreachable(world)  # 5 MiB uploaded in the shell session
    app = app_for(world.data_dir)
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(SessionTable)
        labels = [str(c.label) for c in table.ordered_columns]
        assert "in" in labels and "out" in labels and "bytes" not in labels
        app_in = str(table.get_cell(world.shell, "in"))
        app_out = str(table.get_cell(world.shell, "out"))
    assert app_in == "5.0M" and app_out.endswith("B")
    out = AuditorCli(world.data_dir).run("sessions").stdout.splitlines()
    head = out[0].split()
    assert head[6:8] == ["IN", "OUT"]
    row = next(line.split() for line in out if line.startswith(world.shell[:8]))
    assert row[7:9] == [app_in, app_out]


async def test_s_on_the_failures_screen_after_a_replay_goes_to_the_sessions(
    world: World,
) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(130, 36)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ReplayScreen)
        await pilot.press("x")  # (no settle: the replay's player runs on)
        for _ in range(100):
            if isinstance(app.screen, FailuresScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, FailuresScreen)
        await pilot.press("s")
        for _ in range(100):
            if isinstance(app.screen, SessionsScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, SessionsScreen)
        assert len(app.screen_stack) == 1  # the replay closed, not waiting beneath
