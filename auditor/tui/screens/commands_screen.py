"""Commands across sessions: who ran what where, newest first, with the CLI's filters.

The same as ``auditor commands``: a filter box (``user:NAME node:NAME
since:2h``) and a search box (the sessions' search syntax); Enter replays
the session from where the command was typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from auditor.errors import AuditorError
from auditor.index import SessionIndex
from auditor.index.rows import CommandRow
from auditor.tui import readable as fmt
from auditor.tui.filters import COMMAND_USAGE, CommandFilter
from auditor.tui.safe_text import data_text

if TYPE_CHECKING:
    from auditor.tui.app import AuditorApp

LIMIT = 200


class CommandsScreen(Screen[None]):
    BINDINGS = [
        Binding("slash", "focus_search", "Search", key_display="/"),
        Binding("f", "focus_filter", "Filter"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = CommandFilter()
        self.query_text = ""
        self.rows: list[CommandRow] = []
        self.loaded = 0

    @property
    def auditor(self) -> AuditorApp:
        return cast("AuditorApp", self.app)

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#commands-table", DataTable)

    @property
    def message(self) -> Static:
        return self.query_one("#commands-message", Static)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="query-bar"):
            yield Input(placeholder=f"filter: {COMMAND_USAGE}", id="commands-filter")
            yield Input(placeholder="search the commands users ran (/)", id="commands-search")
        yield DataTable(id="commands-table", cursor_type="row")
        yield Static("", id="commands-message")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "commands"
        self.table.add_columns("time", "user", "target", "session", "offset", "command")
        self.table.focus()
        self.reload()

    @work(group="commands", exclusive=True, exit_on_error=False)
    async def reload(self) -> None:
        flt, q = self.filter, self.query_text.strip() or None
        since = None if flt.since is None else self.auditor.clock() - flt.since

        def run(index: SessionIndex) -> list[CommandRow]:
            # Read only: the proxy's extraction child (or `auditor commands`)
            # reads the commands of sessions as they end.
            return index.commands(user=flt.user, node=flt.node, since=since, search=q, limit=LIMIT)

        try:
            rows = await self.auditor.reader(run, lane="search")
        except AuditorError as exc:
            self.message.update(data_text(str(exc)))
            return
        self.rows = rows
        table = self.table
        table.clear()
        for c in rows:
            target = f"{c.login or '?'}@{c.node}" if c.node else (c.login or "-")
            # Text, not str: DataTable reads a str cell as markup, and the user typed these.
            table.add_row(
                data_text(fmt.when(c.time)),
                data_text(c.user or "-"),
                data_text(target),
                data_text(c.session_id[:8]),
                data_text(f"{c.t:.3f}"),
                data_text(c.line),
            )
        self.message.update(
            data_text(f"{len(rows)} commands" + (" (the newest)" if len(rows) >= LIMIT else ""))
        )
        self.loaded += 1

    @on(Input.Changed, "#commands-search")
    def search_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.reload()

    @on(Input.Changed, "#commands-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        try:
            flt = CommandFilter.parse(event.value)
        except ValueError as exc:
            self.message.update(data_text(str(exc)))
            event.input.add_class("-invalid")
            return
        event.input.remove_class("-invalid")
        if flt != self.filter:
            self.filter = flt
            self.reload()

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.table.focus()

    @on(DataTable.RowSelected)
    async def row_selected(self, event: DataTable.RowSelected) -> None:
        if not 0 <= event.cursor_row < len(self.rows):
            return
        chosen = self.rows[event.cursor_row]
        try:
            session = await self.auditor.reader(lambda ix: ix.get_session(chosen.session_id))
        except AuditorError as exc:
            self.message.update(data_text(str(exc)))
            return
        self.auditor.open_session(session, at=chosen.t)

    def action_focus_search(self) -> None:
        self.query_one("#commands-search", Input).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#commands-filter", Input).focus()

    def action_back(self) -> None:
        self.dismiss()
