"""Fixtures for the TUI tests: a real data directory and the app over it, on a fixed clock."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from auditor.tui.app import AuditorApp, make_app
from tests.tui.world import NOW, World, build_world


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (Pilot needs one; no plugin required)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times render the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path / "home")


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def app_for(data_dir: Path, clock: Clock | None = None, **kwargs: object) -> AuditorApp:
    options: dict[str, object] = {"run_proxy": False, "sample_dir": False}
    options.update(kwargs)
    return make_app(data_dir, clock=clock or Clock(), **options)  # type: ignore[arg-type]


async def settle(pilot: Pilot[None]) -> None:
    """Every worker that loads something has finished and its result is drawn."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete(
        [w for w in pilot.app.workers if w.group != "playback"]
    )
    await pilot.pause()


# The real-proxy fixtures (`start_proxy`, `setup`) for the attach and tmux tests.
from tests.proxy.conftest import setup, start_proxy  # noqa: E402, F401
