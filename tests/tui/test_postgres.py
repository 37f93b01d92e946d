"""The TUI over a shared PostgreSQL index: the same screens, the same rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import Config, HostPort, Storage
from auditor.index import SessionIndex
from auditor.proxy.live import LivePublisher
from auditor.recording import RecordingWriter, Stream, encode_resize
from auditor.tui.screens.sessions_screen import SessionsScreen
from tests.harness.eventually import eventually
from tests.harness.openssh import free_port
from tests.tui.conftest import app_for, settle
from tests.tui.test_failures import open_failures
from tests.tui.test_replay import open_replay, until
from tests.tui.test_sessions import column
from tests.tui.world import NOW, World, build_world


@pytest.fixture
def pg_world(tmp_path: Path, postgres_uri: str) -> tuple[World, Config]:
    world = build_world(tmp_path / "home", uri=postgres_uri)
    # A free port: the app runs a proxy, and 3023 may be taken on this machine.
    listen = HostPort("127.0.0.1", free_port())
    return world, Config(listen_addr=listen, storage=Storage(audit_events_uri=postgres_uri))


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


async def test_a_live_session_of_another_machine_follows_through_the_database(
    pg_world: tuple[World, Config], tmp_path: Path, postgres_uri: str
) -> None:
    world, config = pg_world
    # Another machine's proxy: its own data dir (its spool), the same database.
    proxy_index = SessionIndex.open(tmp_path / "proxy-a", uri=postgres_uri)
    publisher = LivePublisher(proxy_index.reopen)
    publisher.start()
    session_id = "f7" * 16
    path = proxy_index.recording_path(session_id)
    writer = RecordingWriter.create(path, {"session_id": session_id, "start": NOW})
    try:
        writer.append(Stream.RESIZE, encode_resize(50, 10), 0.0)
        writer.append(Stream.OUTPUT, b"$ journalctl -f\r\n", 0.1)
        writer.flush()
        proxy_index.start_session(
            session_id, user="ann", node="db1.example.com", start=NOW, recording_path=str(path)
        )
        publisher.add(session_id, path)
        # Its spool is out of this machine's reach: published first (someone
        # watches), then moved away; the writer and the publisher keep their files.
        proxy_index.watch_live(session_id, "test", 60)
        eventually(lambda: proxy_index.live_chunks(session_id, 0), what="the first flush")
        (tmp_path / "proxy-a").rename(tmp_path / "elsewhere")
        app = app_for(world.data_dir, config=config)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            screen = await open_replay(app, session_id)
            assert screen.state.following
            await until(screen, lambda s: "journalctl -f" in s.terminal_view.text)
            writer.append(Stream.OUTPUT, b"sshd accepted a key\r\n", 0.5)
            writer.flush()
            await until(screen, lambda s: "sshd accepted a key" in s.terminal_view.text)
    finally:
        writer.close()
        publisher.stop()
        proxy_index.close()
