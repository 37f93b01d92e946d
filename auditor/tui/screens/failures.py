"""Failures: grouped by kind with counts and activity, each one's detail and remediation."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Sparkline, Static

from auditor.tui.data import KindSummary, failure_summary, failures_of
from auditor.tui.text import data_text
from auditor.tui.widgets.failure_views import FailureDetail, FailureTable, KindTable
from auditor.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from auditor.tui.app import AuditorApp

REFRESH = 5.0


class FailuresScreen(Screen[None]):
    BINDINGS = [
        Binding("tab", "app.focus_next", "Next pane", show=False),
        Binding("r", "reload", "Refresh"),
        Binding("escape", "app.show_sessions", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.kind: str | None = None
        self.loaded = 0

    @property
    def auditor(self) -> AuditorApp:
        return cast("AuditorApp", self.app)

    @property
    def kind_table(self) -> KindTable:
        return self.query_one(KindTable)

    @property
    def failure_table(self) -> FailureTable:
        return self.query_one(FailureTable)

    @property
    def detail(self) -> FailureDetail:
        return self.query_one(FailureDetail)

    @property
    def sparkline(self) -> Sparkline:
        return self.query_one("#activity", Sparkline)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="kinds-pane"):
                yield KindTable(id="kinds")
                yield Static("activity, last 24 hours", id="activity-label")
                yield Sparkline([], id="activity")
            with Vertical(id="failures-pane"):
                yield FailureTable(id="failures")
                with VerticalScroll(id="detail-box"):
                    yield FailureDetail(id="detail")
        yield StatusBar()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "failures"
        self.watch(self.auditor, "data_version", self.action_reload, init=False)
        self.set_interval(REFRESH, self.reload)
        self.kind_table.focus()
        self.reload()

    @work(group="kinds", exclusive=True, exit_on_error=False)
    async def reload(self) -> None:
        summaries = await self.auditor.reader(failure_summary, self.auditor.clock())
        self.kind_table.show(summaries)
        if not summaries:
            self.detail.show(None)
        self._show_activity(summaries)
        self.load_failures(self.kind_table.chosen)

    def _show_activity(self, summaries: list[KindSummary]) -> None:
        chosen = [s for s in summaries if s.kind == self.kind_table.chosen]
        self.sparkline.data = chosen[0].activity if chosen else [0]
        label = f"{chosen[0].kind}: activity, last 24 hours" if chosen else "no failures"
        self.query_one("#activity-label", Static).update(data_text(label))

    @work(group="failures", exclusive=True, exit_on_error=False)
    async def load_failures(self, kind: str | None) -> None:
        if kind is None:
            return
        self.kind = kind
        rows = await self.auditor.reader(failures_of, kind)
        self.failure_table.show(rows, self.auditor.samples.failures)
        self.loaded += 1

    @on(KindTable.Chosen)
    def kind_chosen(self, event: KindTable.Chosen) -> None:
        if event.kind != self.kind:
            self._show_activity(self.kind_table.summaries)
            self.load_failures(event.kind)

    @on(FailureTable.Chosen)
    def failure_chosen(self, event: FailureTable.Chosen) -> None:
        self.detail.show(event.failure)

    def action_reload(self) -> None:
        self.reload()
