"""The TUI over a shared PostgreSQL index: the same screens, the same rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import Config, Storage
from auditor.tui.screens.sessions import SessionsScreen
from tests.tui.conftest import app_for, settle
from tests.tui.test_failures import open_failures
from tests.tui.test_sessions import column
from tests.tui.world import World, build_world


@pytest.fixture
def pg_world(tmp_path: Path, postgres_uri: str) -> tuple[World, Config]:
    world = build_world(tmp_path / "home", uri=postgres_uri)
    return world, Config(storage=Storage(audit_events_uri=postgres_uri))


async def test_sessions_search_and_failures_from_postgresql(
    pg_world: tuple[World, Config],
) -> None:
    world, config = pg_world
    app = app_for(world.data_dir, config=config, run_proxy=True)
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
        assert (app.live_count, app.session_total) == (1, 4)
        # The app's proxy records into the same shared index.
        assert app.proxy_state.mode == "running", app.proxy_state.error

        await pilot.press("slash", *"secret-token")
        await settle(pilot)
        assert [r.key.value for r in table.ordered_rows] == [world.shell]
        assert "secret-token-42" in column(screen, "match")[0]

        await pilot.press("escape")
        failures = await open_failures(pilot)
        kinds = failures.kind_table
        assert [(s.kind, s.count) for s in kinds.summaries] == [
            ("maxstartups", 3),
            ("host_cert_missing", 1),
        ]
        assert sum(kinds.summaries[0].activity) == 3
        assert failures.failure_table.row_count == 3
    # No embedded index was made beside the shared one.
    assert not (world.data_dir / "index.db").exists()
