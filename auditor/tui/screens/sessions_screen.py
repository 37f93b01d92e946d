"""Sessions: live ones on top and updating, past ones below; filter and full-text search."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from auditor import oversight
from auditor.errors import AuditorError
from auditor.index import Session, SessionIndex
from auditor.index.marks import Hold, View
from auditor.index.owner import os_user
from auditor.tui.data import SessionPage, session_page
from auditor.tui.filters import SessionFilter
from auditor.tui.safe_text import data_text
from auditor.tui.screens.review_screen import ReviewScreen
from auditor.tui.screens.terminate_screen import TerminateScreen
from auditor.tui.widgets.session_details import session_details, watchers_text
from auditor.tui.widgets.session_table import SessionTable
from auditor.tui.widgets.status_bar import StatusBar
from auditor.upkeep.termination import request_termination

if TYPE_CHECKING:
    from auditor.tui.app import AuditorApp

PAGE = 200
SEARCH_LIMIT = 50  # sessions a search shows: each needs its snippet, the newest are wanted


class SessionsScreen(Screen[None]):
    BINDINGS = [
        Binding("slash", "focus_search", "Search", key_display="/"),
        Binding("f", "focus_filter", "Filter"),
        Binding("enter", "open", "Replay", show=True),
        Binding("escape", "clear", "Clear"),
        Binding("r", "reload", "Refresh"),
        Binding("t", "terminate", "Terminate"),
        Binding("m", "review", "Reviewed"),
        Binding("c", "app.show_commands", "Commands"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = SessionFilter()
        self.query_text = ""
        self._search_seq = 0
        self.loaded = 0  # pages shown since start: tests wait on it

    @property
    def auditor(self) -> AuditorApp:
        return cast("AuditorApp", self.app)

    @property
    def session_table(self) -> SessionTable:
        return self.query_one(SessionTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    @property
    def search_input(self) -> Input:
        return self.query_one("#search", Input)

    @property
    def message(self) -> Static:
        return self.query_one("#message", Static)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="query-bar"):
            yield Input(
                placeholder="filter: user:NAME node:NAME status:live|ended|interrupted "
                "label:K=V reviewed:no|yes|USER",
                id="filter",
            )
            yield Input(placeholder="search what sessions printed (/)", id="search")
        yield SessionTable(id="sessions")
        yield Static("", id="session-details")
        yield Static("", id="message")
        yield StatusBar()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "sessions"
        self.watch(self.auditor, "data_version", self._data_changed, init=False)
        self.watch(self.auditor, "live_sessions", self._live_changed, init=False)
        self.session_table.samples = self.auditor.samples.sessions
        self.session_table.focus()
        self.reload()

    # Loading
    @work(group="load", exclusive=True, exit_on_error=False)
    async def reload(self) -> None:
        self._search_seq += 1
        seq = self._search_seq
        flt, q = self.filter, self.query_text.strip()

        def run(index: object) -> SessionPage | None:
            if seq != self._search_seq:
                return None  # superseded by a later keypress before it ran
            limit = SEARCH_LIMIT if q else PAGE
            return session_page(index, flt, q or None, limit)  # type: ignore[arg-type]

        try:
            page = await self.auditor.reader(run, lane="search" if q else "main")
        except AuditorError as exc:
            self.message.update(data_text(str(exc)))
            return
        if page is None or seq != self._search_seq:
            return
        table = self.session_table
        table.samples = self.auditor.samples.sessions
        table.show(page, self.auditor.clock(), searching=bool(q))
        self._describe(page)
        self.loaded += 1

    def _describe(self, page: SessionPage) -> None:
        n = self.session_table.row_count
        if self.query_text.strip():
            text = f"{n} session(s) printed {self.query_text.strip()!r}"
        else:
            more = " (scroll for more)" if page.more else ""
            text = f"{len(page.live)} live · showing {n} newest{more}"
        self.message.update(data_text(text))  # the search as typed, brackets and all

    @on(SessionTable.NeedMore)
    def need_more(self) -> None:
        self.load_more()

    @work(group="more", exclusive=True, exit_on_error=False)
    async def load_more(self) -> None:
        table = self.session_table
        after = table.last_past
        if after is None or not table.more or self.query_text.strip():
            return
        page = await self.auditor.reader(session_page, self.filter, None, PAGE, after=after)
        if table.last_past is after:
            table.show(page, self.auditor.clock(), append=True)
            self._describe(page)

    def _data_changed(self) -> None:
        self.reload()

    def _live_changed(self, live: tuple[Session, ...]) -> None:
        self.session_table.tick(self.auditor.clock(), list(live))

    # Inputs
    @on(Input.Changed, "#search")
    def search_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.reload()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        try:
            flt = SessionFilter.parse(event.value, self.auditor.config.nodes)
        except ValueError as exc:
            self.message.update(data_text(str(exc)))
            self.filter_input.add_class("-invalid")
            return
        self.filter_input.remove_class("-invalid")
        if flt != self.filter:
            self.filter = flt
            self.reload()

    @on(SessionTable.RowHighlighted)
    def highlighted(self, event: SessionTable.RowHighlighted) -> None:
        """The user's roles and the node's labels, from the config as it is now."""
        s = self.session_table.sessions.get(str(event.row_key.value))
        details = self.query_one("#session-details", Static)
        details.update(session_details(s, self.auditor.config) if s else "")
        if s is not None:
            self.load_watchers(s)

    @work(group="watchers", exclusive=True, exit_on_error=False)
    async def load_watchers(self, s: Session) -> None:
        """Who has viewed the session, and its hold, after its details."""

        def marks(index: SessionIndex) -> tuple[list[View], Hold | None]:
            return index.views([s.id]).get(s.id, []), index.holds([s.id]).get(s.id)

        try:
            views, hold = await self.auditor.reader(marks)
        except AuditorError:
            return
        if self.session_table.selected_id != s.id:
            return
        text = session_details(s, self.auditor.config)
        text.append_text(watchers_text(views, hold))
        self.query_one("#session-details", Static).update(text)

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.session_table.focus()

    @on(SessionTable.Opened)
    def opened(self, event: SessionTable.Opened) -> None:
        self.auditor.open_session(event.session, search=self.query_text.strip() or None)

    # Actions
    def action_focus_search(self) -> None:
        self.search_input.focus()

    def action_focus_filter(self) -> None:
        self.filter_input.focus()

    def action_open(self) -> None:
        s = self.session_table.selected
        if s is not None:
            self.auditor.open_session(s, search=self.query_text.strip() or None)

    def action_clear(self) -> None:
        self.filter_input.value = ""
        self.search_input.value = ""
        self.session_table.focus()

    def action_reload(self) -> None:
        self.reload()

    def action_terminate(self) -> None:
        s = self.session_table.selected
        if s is None:
            return
        if not s.live:
            self.message.update(
                data_text(f"session {s.id[:8]} is not live: only live ones can be ended")
            )
            return

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.terminate(s, reason)

        self.app.push_screen(TerminateScreen(s), answered)

    def action_review(self) -> None:
        s = self.session_table.selected
        if s is None:
            return

        def answered(note: str | None) -> None:
            if note is not None:
                self.review(s, note)

        self.app.push_screen(ReviewScreen(s), answered)

    @work(group="review", exit_on_error=False)
    async def review(self, session: Session, note: str) -> None:
        data_dir = self.auditor.data_dir
        try:
            await self.auditor.reader(
                lambda index: oversight.reviewed(index, data_dir, session.id, note or None)
            )
        except (AuditorError, OSError) as exc:
            self.message.update(data_text(str(exc)))
            return
        self.message.update(data_text(f"reviewed {session.id[:8]} as {os_user()}"))
        self.reload()

    @work(group="terminate", exit_on_error=False)
    async def terminate(self, session: Session, reason: str) -> None:
        """The request goes into the index: the proxy carrying the session, in this
        process or any other, ends it on its next flush."""

        def request(index: SessionIndex) -> Session:
            return request_termination(index, session.id, by=os_user(), reason=reason or None)

        try:
            asked = await self.auditor.reader(request)
        except AuditorError as exc:
            self.message.update(data_text(str(exc)))
            return
        self.message.update(
            data_text(
                f"terminating session {asked.id[:8]} ({asked.terminated_by}: "
                f"{asked.termination_reason}): the proxy carrying it ends it within a second"
            )
        )
