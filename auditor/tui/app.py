"""The auditor app: sessions, replay and failures over one data directory.

``make_app`` is the one way to build it, for the CLI and the tests alike.
The proxy runs in the app's own event loop (or the app attaches to the
``auditor proxy`` already serving the data directory); the index is read
on worker threads (``IndexReader``), so neither blocks drawing.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.reactive import reactive
from textual.screen import Screen

from auditor.config import Config
from auditor.datadir import ensure_private_dir
from auditor.index import Session, SessionIndex
from auditor.tui import data, samples
from auditor.tui.data import IndexReader
from auditor.tui.filters import SessionFilter
from auditor.tui.proxy_link import ProxyLink, ProxyState
from auditor.tui.safe_text import data_text
from auditor.tui.screens.failures_screen import FailuresScreen
from auditor.tui.screens.help_screen import HelpScreen
from auditor.tui.screens.replay_screen import ReplayScreen
from auditor.tui.screens.sessions_screen import SessionsScreen

LIVE_REFRESH = 1.0


class AuditorApp(App[None]):
    CSS_PATH = "auditor.tcss"
    TITLE = "auditor"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {lambda: LiveSessionCommands}
    BINDINGS = [
        Binding("s", "show_sessions", "Sessions"),
        Binding("x", "show_failures", "Failures"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]
    MODES = {"sessions": SessionsScreen, "failures": FailuresScreen}

    proxy_state: reactive[ProxyState] = reactive(ProxyState("off"))
    live_count: reactive[int] = reactive(0)
    session_total: reactive[int] = reactive(0)
    live_sessions: reactive[tuple[Session, ...]] = reactive(tuple)
    # Bumped when the index changed under us (samples imported, a session started or ended).
    data_version: reactive[int] = reactive(0)

    def __init__(
        self,
        data_dir: Path,
        config: Config,
        *,
        run_proxy: bool = True,
        sample_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        live_refresh: float = LIVE_REFRESH,
        opening: tuple[Session, float] | None = None,
    ) -> None:
        super().__init__()
        self.opening = opening  # `auditor ID@T`: that replay, at that moment, over the sessions
        self.data_dir = data_dir
        self.config = config
        self.clock = clock
        self.sample_dir = sample_dir
        self.live_refresh = live_refresh
        # Samples go into a fresh embedded index, never into a shared one.
        events_uri = config.storage.audit_events_uri
        self.first_run = events_uri is None and samples.is_empty(data_dir)
        self.reader = IndexReader(data_dir, events_uri)
        self.link = ProxyLink(config, data_dir, enabled=run_proxy)
        self.proxy_state = self.link.state
        self.samples = samples.sample_ids(data_dir)

    async def on_mount(self) -> None:
        if self.first_run and self.sample_dir is not None:
            await self.reader(samples.import_samples, self.sample_dir)
            self.samples = samples.sample_ids(self.data_dir)
        await self.switch_mode("sessions")
        if self.opening is not None:
            self.open_session(self.opening[0], at=self.opening[1])
        self.call_after_refresh(self._freeze_startup_heap)
        self.start_proxy()
        self.refresh_live()
        self.set_interval(self.live_refresh, self.refresh_live)

    def _freeze_startup_heap(self) -> None:
        """Keep what startup built (Textual, Rich, CSS, our modules) out of full collections.

        Those objects live as long as the app, yet every full garbage collection
        walked all of them again: 25-60 ms on the event loop, landing at random
        inside a search's keypress-to-results window. Collected once here, then
        frozen: a full collection walks only what was made since (about 10 ms
        with 100,000 sessions indexed).
        """
        gc.collect()
        gc.freeze()

    async def on_unmount(self) -> None:
        gc.unfreeze()  # a process that runs apps one after another (tests) collects them again
        await self.link.stop()
        self.reader.close()

    @work(group="proxy", exclusive=True)
    async def start_proxy(self) -> None:
        self.proxy_state = await self.link.start()

    @work(group="live", exclusive=True, exit_on_error=False)
    async def refresh_live(self) -> None:
        live, total = await self.reader(_live_and_total)
        if {s.id for s in live} != {s.id for s in self.live_sessions}:
            self.data_version += 1
        self.live_sessions = tuple(live)
        self.live_count = len(live)
        self.session_total = total

    # Actions
    async def action_show_sessions(self) -> None:
        # The sessions screen itself, from any mode: a replay left open in the sessions
        # mode's stack is closed, not returned to (`s` from the failures screen did).
        if self.current_mode != "sessions":
            await self.switch_mode("sessions")
        while len(self.screen_stack) > 1:
            self.pop_screen()

    async def action_show_failures(self) -> None:
        await self.switch_mode("failures")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def open_session(
        self, session: Session, search: str | None = None, at: float | None = None
    ) -> None:
        self.push_screen(ReplayScreen(session, search=search, at=at))

    def action_show_commands(self) -> None:
        from auditor.tui.screens.commands_screen import CommandsScreen

        self.push_screen(CommandsScreen())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Sessions", "Live and past sessions", self.action_show_sessions)
        yield SystemCommand("Failures", "Failed connections by kind", self.action_show_failures)
        yield SystemCommand(
            "Commands", "Who ran which command where, newest first", self.action_show_commands
        )
        yield SystemCommand("Help", "Key bindings of this screen", self.action_help)


FOLLOW_NEWEST = "Follow newest live session"


class LiveSessionCommands(Provider):
    """The palette's "Follow newest live session", with who and where under it.

    Not a ``SystemCommand``: the palette reads a command's help as markup,
    and the user, login and node are the audited side's; a hit's display
    can be ``Content`` built from ``Text``, which is never read as markup.
    """

    def _newest(self) -> tuple[Content, Callable[[], None]] | None:
        app = cast(AuditorApp, self.app)
        if not app.live_sessions:
            return None
        newest = app.live_sessions[0]
        who = data_text(f"{newest.user or '-'} {newest.login}@{newest.node}", style="dim")
        return Content.from_rich_text(who), lambda: app.open_session(newest)

    async def discover(self) -> Hits:
        found = self._newest()
        if found is not None:
            who, follow = found
            yield DiscoveryHit(Content(FOLLOW_NEWEST) + "\n" + who, follow, text=FOLLOW_NEWEST)

    async def search(self, query: str) -> Hits:
        found = self._newest()
        matcher = self.matcher(query)
        if found is not None and (score := matcher.match(FOLLOW_NEWEST)) > 0:
            who, follow = found
            shown = matcher.highlight(FOLLOW_NEWEST) + "\n" + who
            yield Hit(score, shown, follow, text=FOLLOW_NEWEST)


def _live_and_total(index: SessionIndex) -> tuple[list[Session], int]:
    return data.live_sessions(index, SessionFilter()), data.session_count(index)


def make_app(
    data_dir: Path,
    config: Config | None = None,
    *,
    run_proxy: bool = True,
    sample_dir: Path | bool | None = True,
    clock: Callable[[], float] = time.time,
    live_refresh: float = LIVE_REFRESH,
    opening: tuple[Session, float] | None = None,
) -> AuditorApp:
    """The app over ``data_dir``; ``sample_dir=True`` offers the bundled samples on a first run."""
    ensure_private_dir(data_dir)
    if sample_dir is True:
        sample_dir = samples.bundled_samples()
    return AuditorApp(
        data_dir,
        config or Config(),
        run_proxy=run_proxy,
        sample_dir=sample_dir or None,
        clock=clock,
        live_refresh=live_refresh,
        opening=opening,
    )
