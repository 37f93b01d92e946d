"""The failures screen: kinds with counts and activity, each failure's detail and fix."""

from __future__ import annotations

import io

from rich.console import Console

from auditor.tui.screens.failures_screen import FailuresScreen
from tests.tui.conftest import app_for, settle
from tests.tui.world import World


async def open_failures(pilot: object) -> FailuresScreen:
    await settle(pilot)  # type: ignore[arg-type]
    await pilot.press("x")  # type: ignore[attr-defined]
    await settle(pilot)  # type: ignore[arg-type]
    screen = pilot.app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, FailuresScreen)
    return screen


async def test_failures_grouped_by_kind_with_counts_and_activity(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_failures(pilot)
        kinds = screen.kind_table
        assert [(s.kind, s.count) for s in kinds.summaries] == [
            ("maxstartups", 3),
            ("host_cert_missing", 1),
        ]
        activity = kinds.summaries[0].activity
        assert sum(activity) == 3 and len(activity) == 24
        # The chart: a bar per hour and kind, with axes and a legend of the kinds.
        chart = str(screen.chart.render())
        assert "failures per hour, last 24 hours" in chart
        assert "maxstartups" in chart and "host_cert_missing" in chart
        assert "-12h" in chart and "now" in chart and "┤" in chart and "█" in chart
        assert screen.failure_table.row_count == 3


async def test_maxstartups_detail_has_retries_raw_detail_and_the_fix(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_failures(pilot)
        text = detail_text(screen)
        assert "maxstartups" in text
        assert "node.example.com" in text
        assert "retries  3" in text
        assert "kex_exchange_identification: Exceeded MaxStartups" in text
        assert "MaxStartups 50:30:100" in text


async def test_host_cert_missing_fix_names_the_node(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_failures(pilot)
        await pilot.press("down")
        await settle(pilot)
        assert screen.kind == "host_cert_missing"
        assert screen.failure_table.row_count == 1
        text = detail_text(screen)
        assert "auditor ca sign --host=legacy.example.com --format=openssh" in text
        assert "HostCertificate /etc/ssh/legacy.example.com-cert.pub" in text
        assert "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample" in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.current_mode == "sessions"


async def test_clicking_a_failure_shows_it(world: World) -> None:
    app = app_for(world.data_dir)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_failures(pilot)
        oldest = list(screen.failure_table.failures.values())[-1]
        await pilot.click("#failures", offset=(5, 3))  # header row, then three failures
        await pilot.pause()
        assert f"after {oldest.retries} retries" in detail_text(screen)


def detail_text(screen: FailuresScreen) -> str:
    console = Console(width=200, file=io.StringIO())
    with console.capture() as captured:
        console.print(screen.detail.content)
    return captured.get()
