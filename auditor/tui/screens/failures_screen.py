"""Failures: grouped by kind with counts and activity, each one's detail and remediation."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual_plotext import PlotextPlot

from auditor.index.rows import KindSummary
from auditor.tui.data import failure_summary, failures_of
from auditor.tui.widgets.failure_views import FailureDetail, FailureTable, KindTable
from auditor.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from auditor.tui.app import AuditorApp

REFRESH = 5.0
HOURS = 24  # failure_summary's buckets: one an hour over the last day


class ActivityChart(PlotextPlot):
    """Failures per hour over the last day, one colour per kind, with axes and a legend.

    textual-plotext (Textualize's wrapper of plotext) draws it: imported here only,
    so the CLI never loads it. Kind names are ours (FailureKind); plotext's output
    is read as ANSI, never as markup.
    """

    def show(self, summaries: list[KindSummary]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"failures per hour, last {HOURS} hours")
        if summaries:
            hours = list(range(1 - HOURS, 1))  # the last bucket is the hour up to now
            # labels=: plotext's own name; textual-plotext's stub says label=.
            plt.stacked_bar(  # type: ignore[call-arg]
                hours, [s.activity for s in summaries], labels=[s.kind for s in summaries]
            )
            top = max(map(sum, zip(*(s.activity for s in summaries), strict=True)))
            plt.yticks(sorted({0, (top + 1) // 2, top}))
            plt.xticks([-18, -12, -6, 0], ["-18h", "-12h", "-6h", "now"])
        self.refresh()


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
    def chart(self) -> ActivityChart:
        return self.query_one(ActivityChart)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="kinds-pane"):
                yield KindTable(id="kinds")
                yield ActivityChart(id="activity")
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
        self.chart.show(summaries)
        self.load_failures(self.kind_table.chosen)

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
            self.load_failures(event.kind)

    @on(FailureTable.Chosen)
    def failure_chosen(self, event: FailureTable.Chosen) -> None:
        self.detail.show(event.failure)

    def action_reload(self) -> None:
        self.reload()
